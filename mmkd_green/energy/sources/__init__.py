"""Energy sources: each returns cumulative joules per component since it was opened.

* :class:`RaplSource`: CPU package + DRAM counters under ``/sys/class/powercap`` (host-wide,
  method ``measured``);
* :class:`NvmlGpuSource`: the NVIDIA GPUs this process uses (energy counter or power sampling,
  method ``measured``);
* :class:`ProcessCpuEstimate`: this process's CPU time x a per-core power figure (method
  ``estimated``), used when RAPL is unreadable.
"""
from .base import EnergySource, SourceUnavailable
from .cpu_power import DEFAULT_WATTS_PER_CORE, cpu_model_name, per_core_power
from .nvml import NvmlGpuSource
from .process_cpu import ProcessCpuEstimate, process_cpu_seconds
from .rapl import RaplSource

__all__ = ['EnergySource', 'SourceUnavailable', 'RaplSource', 'NvmlGpuSource',
           'ProcessCpuEstimate', 'process_cpu_seconds', 'per_core_power', 'cpu_model_name',
           'DEFAULT_WATTS_PER_CORE']
