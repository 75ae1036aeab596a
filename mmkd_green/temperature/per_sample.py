import torch

from ..registry import TEMPERATURE_SAMPLERS
from .uniform import UniformTemperature


@TEMPERATURE_SAMPLERS.register_module()
class PerSampleUniformTemperature(UniformTemperature):
    """One τ per sample: τ(i, j) ~ U[low, high] for sample ``j`` of the batch at iteration ``i``.

    Returns a float32 tensor of shape ``(batch_size,)``; value ``j`` is the ``j``-th draw of the
    stream ``default_rng([seed, i])``, so it depends only on ``(seed, i, j)``.
    """

    per_sample = True

    def sample(self, iteration, batch_size=None):
        if batch_size is None or batch_size < 1:
            raise ValueError(f'{type(self).__name__} needs the batch size, got {batch_size!r}')
        return torch.as_tensor(self.draw(iteration, size=batch_size), dtype=torch.float32)
