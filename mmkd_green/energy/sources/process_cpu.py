"""CPU energy estimated from this process's CPU time (used when RAPL is unreadable).

    E_cpu = P_core * (t_cpu(now) - t_cpu(start))

``t_cpu`` = user + system seconds of this process + of its children that have been waited for
(``os.times().children_*``, e.g. DataLoader workers that have exited) + of its live descendants
(``/proc`` children files, else psutil; persistent DataLoader workers). A child moves from the "live" to the "waited-for" term
when it exits, so it is never counted twice. ``P_core`` comes from
:func:`~.cpu_power.per_core_power`. Scope ``process``: each DDP rank estimates its own CPU time,
so the ranks' estimates add up without double counting.
"""
import os
from typing import Dict

from .base import EnergySource
from .cpu_power import per_core_power


_CLK_TCK = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def _proc_children(pid: int):
    """Direct children of ``pid`` from ``/proc/<pid>/task/*/children`` (Linux with
    CONFIG_PROC_CHILDREN); ``None`` when that interface is absent."""
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return None
    out = []
    for tid in tasks:
        try:
            with open(f'/proc/{pid}/task/{tid}/children') as f:
                out.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if tid == str(pid):
                return None      # the kernel has no children file
        except (OSError, ValueError):
            continue
    return out


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process from ``/proc/<pid>/stat`` (0 if it is gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rpartition(')')[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


def _live_descendants_seconds() -> float:
    pending, seen, total = [os.getpid()], set(), 0.0
    while pending:
        children = _proc_children(pending.pop())
        if children is None:
            raise LookupError('no /proc children interface')
        for child in children:
            if child not in seen:
                seen.add(child)
                total += _proc_cpu_seconds(child)
                pending.append(child)
    return total


def _psutil_descendants_seconds() -> float:
    try:
        import psutil
    except ImportError:   # requirements/runtime.txt has it; without it live workers are missed
        return 0.0
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            ct = child.cpu_times()
            total += ct.user + ct.system
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return total


def process_cpu_seconds() -> float:
    """CPU seconds of this process, its waited-for children and its live descendants.

    Live descendants are found through ``/proc/<pid>/task/*/children`` (a few files, ~0.1 ms)
    and fall back to psutil, which scans every process of the machine (~2 ms)."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    try:
        return total + _live_descendants_seconds()
    except LookupError:
        return total + _psutil_descendants_seconds()


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
