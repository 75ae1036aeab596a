"""The per-core power figure used by the CPU-time estimate.

``per_core_power()`` returns ``(watts per busy core, how it was chosen)``:

1. ``override`` (config ``cpu_power_per_core_w``) when given;
2. else, when the CPU model (``/proc/cpuinfo`` ``model name``) is found in carbontracker's TDP
   table (exact match after normalisation) and the machine is not virtualised:
   ``TDP / physical cores per package`` (``cpu cores`` in ``/proc/cpuinfo``);
3. else ``DEFAULT_WATTS_PER_CORE = 10.0`` W. Server CPUs' TDP per core is about 3-10 W (e.g.
   EPYC 7763: 280 W / 64 cores = 4.4 W; Xeon Gold 6248: 150 W / 20 = 7.5 W) and desktop CPUs'
   8-16 W (Core i7-8700: 65 W / 6 = 10.8 W), so 10 W errs towards over-, not under-reporting.

In a VM (``hypervisor`` CPU flag) the guest's core count says nothing about the physical
package, so TDP / cores would be wrong: the default is used and the reason recorded.
"""
import platform
from typing import Optional, Tuple

DEFAULT_WATTS_PER_CORE = 10.0


def _cpuinfo_fields() -> dict:
    fields = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, sep, value = line.partition(':')
                if sep and key.strip() not in fields:
                    fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model_name() -> str:
    return _cpuinfo_fields().get('model name') or platform.processor() or 'unknown CPU'


def per_core_power(override: Optional[float] = None,
                   cpuinfo: Optional[dict] = None) -> Tuple[float, str]:
    """``cpuinfo``: ``/proc/cpuinfo`` fields (default: this machine's). The TDP table is only
    searched when its figure can be used (bare metal, known core count)."""
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, (int, float)) or not override > 0:
            raise ValueError(f'`cpu_power_per_core_w` must be a number of W > 0, got {override!r}')
        return float(override), 'config cpu_power_per_core_w'
    fields = _cpuinfo_fields() if cpuinfo is None else cpuinfo
    model = fields.get('model name') or platform.processor() or 'unknown CPU'
    cores = fields.get('cpu cores', '')
    if 'hypervisor' in fields.get('flags', '').split():
        why = 'virtual machine: physical cores per package unknown'
    elif not (cores.isdigit() and int(cores) > 0):
        why = 'core count unknown'
    else:
        try:
            from ..carbontracker_data import lookup_cpu_tdp
            match = lookup_cpu_tdp(model)
        except FileNotFoundError:
            match = None
        if match is not None:
            name, tdp = match
            return tdp / int(cores), (f'carbontracker TDP table: {name} {tdp:g} W / {cores} cores')
        why = 'not in carbontracker\'s TDP table'
    return DEFAULT_WATTS_PER_CORE, (f'default {DEFAULT_WATTS_PER_CORE:g} W/core ({model!r}: {why}; '
                                    f'set cpu_power_per_core_w to override)')
