"""FLOPs counted on real steps with ``torch.utils.flop_counter.FlopCounterMode``.

Convention: FLOPs = 2 x multiply-accumulates (torch's counter counts a matmul of (m, k) x (k, n)
as 2·m·k·n, convolutions alike); element-wise ops, normalisation and optimizer updates count 0.

* Training: the counter is entered just before a real train iteration and left after it, so it
  sees the teacher forward, the student forward and the backward of that step (the optimizer
  step adds nothing). Per segment::

      train_flops = F_counted / B_counted * Σ_i B_i     (Σ over the segment's iterations)

  i.e. ``F_counted x iterations`` when all batches have the counted batch size ``B_counted``;
  ``F_counted x iterations`` when batch sizes are unknown.
* Inference: the FLOPs of one real val/test iteration divided by its batch size (the model's
  predict path: the student of a distiller).

The counter is a dispatch mode: every op runs unchanged (same kernels, same results), so counting
does not change numerics or RNG state.
"""
from typing import Optional

from torch.utils.flop_counter import FlopCounterMode


class StepFlopCounter:
    """Enter/exit a :class:`FlopCounterMode` around one step (hook-friendly, re-usable)."""

    def __init__(self):
        self._mode: Optional[FlopCounterMode] = None

    @property
    def active(self) -> bool:
        return self._mode is not None

    def enter(self) -> None:
        if self._mode is None:
            mode = FlopCounterMode(display=False)
            mode.__enter__()
            self._mode = mode

    def exit(self) -> Optional[int]:
        """Leave the counter; the FLOPs counted since :meth:`enter` (``None`` if not active)."""
        if self._mode is None:
            return None
        mode, self._mode = self._mode, None
        mode.__exit__(None, None, None)
        return int(mode.get_total_flops())


def count_flops(fn, *args, **kwargs):
    """``(result, FLOPs)`` of one call."""
    with FlopCounterMode(display=False) as mode:
        out = fn(*args, **kwargs)
    return out, int(mode.get_total_flops())


def scale_train_flops(counted: Optional[int], counted_batch: Optional[int], samples: int,
                      iters: int) -> Optional[int]:
    """Segment FLOPs from one counted step (see the module docstring)."""
    if counted is None:
        return None
    if counted_batch and samples:
        return int(round(counted / counted_batch * samples))
    return int(counted) * int(iters)
