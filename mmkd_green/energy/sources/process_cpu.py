"""CPU energy estimated from this process's CPU time (used when RAPL is unreadable).

    E_cpu = P_core * (t_cpu(now) - t_cpu(start))

``t_cpu`` = user + system seconds of this process + of its children that have been waited for
(``os.times().children_*``, e.g. DataLoader workers that have exited) + of its live descendants
(psutil; persistent DataLoader workers). A child moves from the "live" to the "waited-for" term
when it exits, so it is never counted twice. ``P_core`` comes from
:func:`~.cpu_power.per_core_power`. Scope ``process``: each DDP rank estimates its own CPU time,
so the ranks' estimates add up without double counting.
"""
import os
from typing import Dict

from .base import EnergySource
from .cpu_power import per_core_power


def process_cpu_seconds() -> float:
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    try:
        import psutil
        for child in psutil.Process().children(recursive=True):
            try:
                ct = child.cpu_times()
                total += ct.user + ct.system
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass
    except ImportError:   # psutil comes with carbontracker; without it live workers are missed
        pass
    return total


class ProcessCpuEstimate(EnergySource):
    """``estimated`` CPU energy of this process (and its workers)."""

    components = ('cpu',)
    method = 'estimated'
    scope = 'process'
    source = 'cpu-time'

    def __init__(self, watts_per_core=None):
        self.watts_per_core, self.figure = per_core_power(watts_per_core)
        self.detail = (f'process CPU time x {self.watts_per_core:.3g} W per busy core '
                       f'({self.figure})')
        self._t0 = None

    def open(self) -> None:
        self._t0 = process_cpu_seconds()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds() - self._t0

    def read(self) -> Dict[str, float]:
        return {'cpu': self.cpu_seconds() * self.watts_per_core}
