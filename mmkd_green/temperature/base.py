"""Base class of temperature samplers.

A sampler maps ``(seed, global iteration[, sample index])`` to a temperature τ with no hidden RNG
state. Randomness comes from a counter-based stream: ``numpy.random.default_rng([seed, iteration])``
(a SeedSequence over both integers), so

* every DDP rank computes the same τ for the same iteration without communication, and
* a run resumed at iteration ``i`` continues the exact sequence ``τ(i), τ(i+1), ...``.
"""
import math
from typing import Optional, Union

import numpy as np
import torch

Temperature = Union[float, torch.Tensor]


def check_positive_finite(owner: str, **values) -> None:
    """Raise ``ValueError`` naming the parameter when a value is not a finite number > 0."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{owner}: `{name}` must be a number, got {value!r}')
        if not math.isfinite(value):
            raise ValueError(f'{owner}: `{name}` must be finite, got {value!r}')
        if value <= 0:
            raise ValueError(f'{owner}: `{name}` must be > 0 (a temperature divides the logits), '
                             f'got {value!r}')


class BaseTemperatureSampler:
    """τ as a pure function of ``(seed, iteration[, sample index])``.

    Args:
        seed (int, optional): stream seed. ``None`` lets :class:`TemperatureHook` use the runner's
            seed (mmengine broadcasts it to every rank and stores it in checkpoints); standalone
            use treats ``None`` as 0.
    """

    #: True when :meth:`sample` returns one τ per sample (a tensor of shape ``(batch_size,)``).
    per_sample: bool = False

    def __init__(self, seed: Optional[int] = None):
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f'{type(self).__name__}: `seed` must be a non-negative int, got {seed!r}')
        self.seed = None if seed is None else int(seed)

    def rng(self, iteration: int) -> np.random.Generator:
        """The counter-based generator for one iteration (fresh each call: no hidden state)."""
        if iteration < 0:
            raise ValueError(f'iteration must be >= 0, got {iteration}')
        seed = 0 if self.seed is None else self.seed
        return np.random.default_rng([seed, int(iteration)])

    def sample(self, iteration: int, batch_size: Optional[int] = None) -> Temperature:
        """τ for global iteration ``iteration`` (0-based). Subclasses implement this."""
        raise NotImplementedError

    def __call__(self, iteration: int, batch_size: Optional[int] = None) -> Temperature:
        return self.sample(iteration, batch_size)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'
