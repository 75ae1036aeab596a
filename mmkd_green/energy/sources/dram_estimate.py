"""DRAM energy ESTIMATED from this process's resident memory, for machines without a RAPL DRAM zone.

    E_dram = P_GB * ∫ RSS_GB(t) dt        (left Riemann sum over the meter's polls, 1 s by default)

``RSS`` = resident set of this process and its live descendants (DataLoader workers), from
``psutil`` (pages shared between them are counted in each: an upper bound).

Default figure (off unless ``dram_w_per_gb`` is given): 0.375 W/GB, i.e. "3 W per 8 GB", the RAM
figure of codecarbon before 3.0 (its RAM power = 3/8 W per GB of memory; the Green Algorithms
calculator uses the same order, 0.3725 W/GB). It is crude: DRAM power follows the installed
modules and their activity far more than the bytes a process holds, which is why codecarbon 3.0
replaced it by a per-DIMM heuristic (PR mlco2/codecarbon#804). Hence the component is labelled
``estimated`` and the meter uses it only when asked (``dram_w_per_gb=0.375`` or your own figure).
Scope ``process``: each DDP rank estimates its own memory, the ranks' estimates add up.
"""
import math
import threading
import time
from typing import Dict

from .base import EnergySource, SourceUnavailable

CODECARBON_W_PER_GB = 3.0 / 8.0
BYTES_PER_GB = 1e9


def check_w_per_gb(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f'`dram_w_per_gb` must be a number >= 0 (W per GB of resident memory, '
                         f'e.g. {CODECARBON_W_PER_GB} as codecarbon < 3.0), or None to leave DRAM '
                         f'unmeasured without RAPL; got {value!r}')
    return float(value)


def resident_bytes() -> int:
    """RSS of this process + its live descendants (bytes)."""
    import psutil
    proc = psutil.Process()
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
    return total


class ResidentMemoryDramEstimate(EnergySource):
    """``estimated`` DRAM energy: W per GB x resident GB x time."""

    components = ('dram',)
    method = 'estimated'
    scope = 'process'

    def __init__(self, w_per_gb: float = CODECARBON_W_PER_GB):
        self.w_per_gb = check_w_per_gb(w_per_gb)
        self.detail = (f'resident memory of this process (+ workers) x {self.w_per_gb:.4g} W/GB '
                       f'(codecarbon < 3.0 figure: 3 W per 8 GB), integrated over time')
        self._lock = threading.Lock()
        self._joules = 0.0
        self._t = None
        self._gb = 0.0

    def open(self) -> None:
        try:
            self._gb = resident_bytes() / BYTES_PER_GB
        except ImportError as err:
            raise SourceUnavailable(f'the DRAM estimate needs psutil ({err})') from err
        self._t = time.monotonic()

    def poll(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._joules += self.w_per_gb * self._gb * (now - self._t)
            self._t = now
            self._gb = resident_bytes() / BYTES_PER_GB

    def read(self) -> Dict[str, float]:
        self.poll()
        return {'dram': self._joules}
