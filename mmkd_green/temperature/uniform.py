import math

from ..registry import TEMPERATURE_SAMPLERS
from .base import BaseTemperatureSampler, check_positive_finite


def check_range(owner: str, low: float, high: float, discrete: bool) -> None:
    check_positive_finite(owner, low=low, high=high)
    if low > high:
        raise ValueError(f'{owner}: `low` ({low}) must be <= `high` ({high})')
    if discrete and math.ceil(low) > math.floor(high):
        raise ValueError(f'{owner}: discrete=True needs an integer in [low, high] = [{low}, {high}]')


@TEMPERATURE_SAMPLERS.register_module()
class UniformTemperature(BaseTemperatureSampler):
    """One τ per batch, τ(i) ~ U[low, high] (the paper's stochastic temperature, default [2, 20]).

    With ``discrete=True`` τ is drawn uniformly from the integers ``ceil(low) .. floor(high)``.
    The draw for iteration ``i`` is the first value of ``default_rng([seed, i])``.
    """

    def __init__(self, low: float = 2.0, high: float = 20.0, discrete: bool = False, seed=None):
        super().__init__(seed)
        check_range(type(self).__name__, low, high, discrete)
        self.low, self.high, self.discrete = float(low), float(high), bool(discrete)

    def draw(self, iteration, size=None):
        rng = self.rng(iteration)
        if self.discrete:
            return rng.integers(math.ceil(self.low), math.floor(self.high), endpoint=True,
                                size=size)
        return rng.uniform(self.low, self.high, size=size)

    def sample(self, iteration, batch_size=None):
        return float(self.draw(iteration))
