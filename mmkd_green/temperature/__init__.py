"""Temperature samplers (one per run) and the hook that shares τ with every loss and pipeline."""
from .base import BaseTemperatureSampler
from .constant import ConstantTemperature
from .cosine import CosineTemperature
from .current import TAU_INFO_KEY, TAU_SCALAR_KEY, get_current_temperature, publish_temperature
from .hook import TemperatureHook
from .per_sample import PerSampleUniformTemperature
from .uniform import UniformTemperature

__all__ = ['BaseTemperatureSampler', 'ConstantTemperature', 'UniformTemperature',
           'PerSampleUniformTemperature', 'CosineTemperature', 'TemperatureHook',
           'get_current_temperature', 'publish_temperature', 'TAU_INFO_KEY', 'TAU_SCALAR_KEY']
