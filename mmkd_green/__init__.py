"""mmkd-green: stochastic-temperature knowledge distillation with energy and carbon metering.

``import mmkd_green`` (or ``custom_imports = dict(imports=['mmkd_green'])``) registers the
temperature samplers, the TemperatureHook and the KD losses without importing mmdet. Detection
parts live in ``mmkd_green.detection`` and import mmdet when that module is imported.
"""
from .utils.safe_load import register_safe_globals

register_safe_globals()

from . import classification, dfkd, energy, losses, temperature  # noqa: E402,F401  (registers)

__version__ = '0.1.0'
__all__ = ['classification', 'dfkd', 'energy', 'losses', 'temperature', '__version__']
