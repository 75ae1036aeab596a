"""Registries owned by mmkd-green.

Models, losses, hooks, datasets and metrics go into mmengine's root registries, so plain mmengine
configs find them and every downstream scope (``mmdet`` included) reaches them through the parent
chain. Only temperature samplers have their own registry: exactly one sampler is built per run, by
:class:`~mmkd_green.temperature.TemperatureHook`, from the config's top-level ``temperature`` field.
"""
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS, Registry

TEMPERATURE_SAMPLERS = Registry('temperature sampler', scope='mmkd_green',
                                locations=['mmkd_green.temperature'])

__all__ = ['TEMPERATURE_SAMPLERS', 'MODELS', 'HOOKS', 'DATASETS', 'METRICS', 'TRANSFORMS']
