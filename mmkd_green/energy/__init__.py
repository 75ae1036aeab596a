"""Energy, carbon and FLOPs metering of every run.

* :class:`EnergyMeter`: framework-free meter (start / epoch_start / epoch_end / stop);
* :class:`CarbonFootprintHook`: the mmengine hook built on it (registered in ``HOOKS``);
* :func:`load_run_totals`: totals of a run folder (finished or crashed).
"""
from .flops import StepFlopCounter, count_flops
from .hook import CarbonFootprintHook
from .meter import EnergyMeter
from .report import aggregate, load_run_records, load_run_totals
from .settings import DEFAULT_CARBON_INTENSITY, DEFAULT_PUE
from .sources.cpu_power import DEFAULT_WATTS_PER_CORE

__all__ = ['EnergyMeter', 'CarbonFootprintHook', 'load_run_totals', 'load_run_records',
           'aggregate', 'count_flops', 'StepFlopCounter', 'DEFAULT_PUE',
           'DEFAULT_CARBON_INTENSITY', 'DEFAULT_WATTS_PER_CORE']
