"""Energy sources: each returns cumulative joules per component since it was opened.

* :class:`RaplSource`: CPU package + DRAM counters under ``/sys/class/powercap`` (host-wide,
  method ``measured``);
* :class:`NvmlGpuSource`: the NVIDIA GPUs this process uses (energy counter or power sampling,
  method ``measured``);
* :class:`ProcessCpuEstimate`: this process's CPU time x a per-core power figure (method
  ``estimated``), used when RAPL is unreadable.

Why not carbontracker 2.4.7's component readers: its ``IntelCPU`` sleeps 1 s per reading, reads a
hard-coded ``/sys/class/powercap``, does not handle counter wrap-around and falls back to silent
zeros; its ``NvidiaGPU`` samples power only and reads every visible GPU (or looks them up by pid);
its ``GenericCPU`` runs ``cpuinfo`` and substring-matches the model name. We use its data tables
(:mod:`..carbontracker_data`) and never import its modules.
"""
from .base import EnergySource, SourceUnavailable
from .cpu_power import DEFAULT_WATTS_PER_CORE, cpu_model_name, per_core_power
from .nvml import NvmlGpuSource
from .process_cpu import ProcessCpuEstimate, process_cpu_seconds
from .rapl import RaplSource

__all__ = ['EnergySource', 'SourceUnavailable', 'RaplSource', 'NvmlGpuSource',
           'ProcessCpuEstimate', 'process_cpu_seconds', 'per_core_power', 'cpu_model_name',
           'DEFAULT_WATTS_PER_CORE']
