"""``SharedTemperatureLoss``: give any temperature-taking loss the run's shared τ.

A loss that keeps its temperature in an attribute (mmdet's ``KnowledgeDistillationKLDivLoss.T``,
a third-party ``.tau`` or ``.temperature``) is wrapped in a config; before every call the wrapper
sets that attribute to the τ the run's :class:`~mmkd_green.temperature.TemperatureHook` published
for the current iteration, then calls the wrapped loss with the same arguments::

    loss_ld=dict(type='SharedTemperatureLoss',
                 loss=dict(type='KnowledgeDistillationKLDivLoss', loss_weight=0.25, T=10))

so at iteration ``i`` the wrapped loss computes its own formula with ``T = τ(i)`` (the config's
``T=10`` only passes the wrapped loss's own constructor checks). Everything else of the wrapped
loss (weights, reduction, ``avg_factor``) is unchanged; attributes the wrapper does not have
(``use_sigmoid``, ``loss_weight``, ...) are read from the wrapped loss.

Constraints of the wrapped loss are kept: mmdet asserts ``T >= 1`` in
``KnowledgeDistillationKLDivLoss``, so that loss gets ``min_tau=1`` by default, and a τ below
``min_tau`` is an error naming the fix (raise the sampler's ``low``) unless ``below_min='clip'``
(then ``max(τ, min_tau)`` is used). An attribute holds one number, so a per-sample τ (shape
``(B,)``) is refused.
"""
import math
from typing import Optional, Union

import torch
import torch.nn as nn

from ..registry import MODELS
from ..temperature.current import get_current_temperature

TAU_ATTRS = ('T', 'tau', 'temperature')
#: lower bounds the wrapped losses enforce themselves (class name -> minimum τ)
KNOWN_MIN_TAU = {'KnowledgeDistillationKLDivLoss': 1.0}
BELOW_MIN = ('error', 'clip')


@MODELS.register_module()
class SharedTemperatureLoss(nn.Module):
    """Sets ``loss.<attr> = τ(i)`` from the shared τ before each call of ``loss`` (module doc).

    Args:
        loss (dict | nn.Module): the wrapped loss (built from the current scope's ``MODELS``,
            e.g. mmdet's when the config's ``default_scope='mmdet'``).
        attr (str, optional): the wrapped loss's temperature attribute; ``None`` finds the one of
            ``T``, ``tau``, ``temperature`` that it has.
        min_tau (float, optional): smallest τ the wrapped loss accepts; ``None``: its known bound
            (1 for mmdet's ``KnowledgeDistillationKLDivLoss``), else no bound beyond τ > 0.
        below_min (str): ``'error'`` (default) or ``'clip'`` for a τ below ``min_tau``.
    """

    def __init__(self, loss: Union[dict, nn.Module], attr: Optional[str] = None,
                 min_tau: Optional[float] = None, below_min: str = 'error'):
        super().__init__()
        self.loss = loss if isinstance(loss, nn.Module) else MODELS.build(loss)
        name = type(self.loss).__name__
        if attr is None:
            found = [a for a in TAU_ATTRS if hasattr(self.loss, a)]
            if len(found) != 1:
                raise ValueError(
                    f'SharedTemperatureLoss: {name} has {"none" if not found else found} of the '
                    f'temperature attributes {TAU_ATTRS}; name the one to set with `attr=...`')
            attr = found[0]
        elif not hasattr(self.loss, attr):
            raise ValueError(f'SharedTemperatureLoss: {name} has no attribute {attr!r} '
                             f'(its attributes: {sorted(vars(self.loss))})')
        if below_min not in BELOW_MIN:
            raise ValueError(f'below_min must be one of {BELOW_MIN}, got {below_min!r}')
        self.attr, self.below_min = attr, below_min
        self.min_tau = KNOWN_MIN_TAU.get(name) if min_tau is None else float(min_tau)
        self.last_tau: Optional[float] = None

    def current_tau(self) -> float:
        """The shared τ of this iteration as the float the wrapped loss gets."""
        tau = get_current_temperature()
        if torch.is_tensor(tau):
            if tau.numel() != 1:
                raise ValueError(
                    f'SharedTemperatureLoss: a per-sample τ ({tau.numel()} values) cannot be set '
                    f'as {type(self.loss).__name__}.{self.attr}; use a per-batch sampler such as '
                    'UniformTemperature')
            tau = tau.item()
        tau = float(tau)
        if not math.isfinite(tau) or tau <= 0:
            raise ValueError(f'SharedTemperatureLoss: τ must be finite and > 0, got {tau}')
        if self.min_tau is not None and tau < self.min_tau:
            if self.below_min == 'clip':
                return self.min_tau
            raise ValueError(
                f'SharedTemperatureLoss: τ = {tau:g} but {type(self.loss).__name__} needs '
                f'{self.attr} >= {self.min_tau:g}. Raise the sampler\'s lower bound '
                f'(e.g. --cfg-options temperature.low={self.min_tau:g}) or wrap with '
                "below_min='clip'")
        return tau

    def forward(self, *args, **kwargs):
        tau = self.current_tau()
        setattr(self.loss, self.attr, tau)
        self.last_tau = tau
        return self.loss(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            loss = self.__dict__.get('_modules', {}).get('loss')
            if loss is not None and name != 'loss':
                return getattr(loss, name)
            raise

    def extra_repr(self) -> str:
        return f'attr={self.attr!r}, min_tau={self.min_tau}, below_min={self.below_min!r}'
