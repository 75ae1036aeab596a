"""Mixed precision of a synthesis round: the autocast dtype and, for fp16, dynamic loss scaling.

``amp`` of a synthesizer selects the dtype its networks run in:

* ``True``: bf16 on a CPU with native bf16 (refused on one without: slower than fp32); on CUDA
  bf16 where the GPU runs it natively (``cuda_bf16_native``: Ampere and newer; not where torch
  would only emulate it), else fp16;
* ``'bf16'`` / ``'fp16'``: that dtype on any device (tests use ``'fp16'`` on CPU);
* ``False``: fp32, no autocast.

Why fp16 needs a loss scale. The BN-statistics gradient reaching a BN input of ``M = N·H·W``
values per channel is, per element (:class:`~.bn_hooks.BNStatisticsDistance`)::

    ∂R/∂x = (u_μ,c + 2 · u_σ,c · (x − μ_c)) / M          |u| ≤ 1,  M ≈ 2.6e5 (batch 256, 32×32)

about 1e-6, below fp16's smallest normal number (6.1e-5); multiplied back through the layers it
falls below the smallest subnormal (6e-8) and flushes to zero, so the images (DeepInversion) or
the generator (CMI) receive no gradient. With fp16 every step therefore back-propagates ``S · L``
(``torch.amp.GradScaler``, dynamic ``S``, initially :data:`INIT_SCALE` = 2^10), and each optimizer of the step
(images/generator and CMI's projection head) steps on the unscaled fp32 gradients
``g = ∇(S · L) / S``; an optimizer whose gradients hold inf/NaN skips that step, ``S`` halves, and
doubles again after 2000 finite steps (the scale persists across rounds). 2^10 lifts a 1e-6
gradient to ~1e-3, well inside fp16's normal range, while torch's default 2^16 overflows in the
first steps of a round (a fresh generator's large gradients) and skips them.
bf16 has fp32's exponent range: no scale.

The loss terms, the images, the leaf gradients and the optimizer states stay fp32 throughout.
"""
import contextlib
from typing import Optional, Union

import torch

AMP_CHOICES = (False, True, 'bf16', 'fp16')
INIT_SCALE = 2.0 ** 10
_FORCED = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def check_amp(amp, what: str) -> Union[bool, str]:
    """``amp`` as given, if it is one of :data:`AMP_CHOICES`; raises naming ``what`` otherwise."""
    if isinstance(amp, bool) or amp in ('bf16', 'fp16'):
        return amp
    raise ValueError(f'{what}: `amp` must be False, True (auto: bf16 where supported, else '
                     f'fp16 with a loss scale), "bf16" or "fp16"; got {amp!r}')


def synthesis_dtype(amp: Union[bool, str], device: torch.device,
                    what: str) -> Optional[torch.dtype]:
    """The autocast dtype of a round on ``device`` (``None``: fp32, no autocast)."""
    if amp is False:
        return None
    if amp in _FORCED:
        return _FORCED[amp]
    from mmkd_green.utils.cpu_autocast import autocast_dtype
    return autocast_dtype(device.type, f'{what}(amp=True)', 'Set amp=False.')


class SynthesisPrecision:
    """Autocast context, backward and optimizer steps of one synthesis round.

    Args:
        dtype: autocast dtype (``None``: fp32). fp16 adds a ``GradScaler`` on ``device``.
        device: where the networks run.
    """

    def __init__(self, dtype: Optional[torch.dtype], device: torch.device):
        self.dtype, self.device = dtype, torch.device(device)
        self.scaler = torch.amp.GradScaler(self.device.type, init_scale=INIT_SCALE) \
            if dtype == torch.float16 else None

    def autocast(self):
        """The context a network's forward pass runs in (nothing for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, of ``S · loss`` with a scaler."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, *optimizers: torch.optim.Optimizer) -> None:
        """One step of every optimizer of this synthesis step (unscaled and inf-checked, each,
        with a scaler; then the scale is updated once)."""
        if self.scaler is None:
            for opt in optimizers:
                opt.step()
            return
        for opt in optimizers:
            self.scaler.step(opt)
        self.scaler.update()


def steps_taken(optimizer: torch.optim.Optimizer) -> int:
    """Steps ``optimizer`` (Adam/AdamW/SGD-with-state) really took, from its per-parameter step
    count; a step a GradScaler skipped is not counted. Read once per round (host tensor)."""
    for group in optimizer.param_groups:
        for p in group['params']:
            step = optimizer.state.get(p, {}).get('step')
            if step is not None:
                return int(step)
    return 0
