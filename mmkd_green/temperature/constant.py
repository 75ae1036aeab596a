from ..registry import TEMPERATURE_SAMPLERS
from .base import BaseTemperatureSampler, check_positive_finite


@TEMPERATURE_SAMPLERS.register_module()
class ConstantTemperature(BaseTemperatureSampler):
    """τ(i) = ``tau`` for every iteration: the fixed-τ (grid-search) baseline."""

    def __init__(self, tau: float = 4.0, seed=None):
        super().__init__(seed)
        check_positive_finite(type(self).__name__, tau=tau)
        self.tau = float(tau)

    def sample(self, iteration, batch_size=None):
        return self.tau
