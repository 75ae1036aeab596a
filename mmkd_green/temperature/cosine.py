import math
from typing import Optional

from ..registry import TEMPERATURE_SAMPLERS
from .base import BaseTemperatureSampler, check_positive_finite


@TEMPERATURE_SAMPLERS.register_module()
class CosineTemperature(BaseTemperatureSampler):
    """A deterministic schedule baseline (no randomness):

    τ(i) = end + (start - end) · (1 + cos(π · min(i, T) / T)) / 2

    where ``T = total_iters`` (the hook fills in the run's ``max_iters`` when it is ``None``).
    """

    def __init__(self, start: float = 20.0, end: float = 2.0, total_iters: Optional[int] = None,
                 seed=None):
        super().__init__(seed)
        check_positive_finite(type(self).__name__, start=start, end=end)
        if total_iters is not None and (not isinstance(total_iters, int) or total_iters < 1):
            raise ValueError(f'CosineTemperature: `total_iters` must be an int >= 1, got {total_iters!r}')
        self.start, self.end, self.total_iters = float(start), float(end), total_iters

    def sample(self, iteration, batch_size=None):
        if self.total_iters is None:
            raise ValueError('CosineTemperature: `total_iters` is unset; give it in the config or '
                             'let TemperatureHook take it from the train loop')
        t = min(int(iteration), self.total_iters) / self.total_iters
        return self.end + (self.start - self.end) * (1 + math.cos(math.pi * t)) / 2
