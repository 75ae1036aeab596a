"""CPU package and DRAM energy from the Linux powercap RAPL counters.

Layout read (``root`` defaults to ``/sys/class/powercap``)::

    <root>/intel-rapl:0/{name = package-0, energy_uj, max_energy_range_uj}
    <root>/intel-rapl:0:0/{name = core, ...}      (inside package-0: skipped)
    <root>/intel-rapl:0:2/{name = dram, ...}
    <root>/intel-rapl:1/...                       (second socket)

AMD CPUs expose the same layout (``amd-rapl`` zones or ``intel-rapl`` ones). ``package-N`` zones
are summed into component ``cpu``, ``dram`` zones into ``dram``; ``core``/``uncore`` (contained in
the package), ``psys`` (a platform superset) and the ``intel-rapl-mmio`` mirror of the package
are skipped, so nothing is counted twice.

Each counter is a µJ value that wraps to 0 after ``max_energy_range_uj``; between two readings

    ΔE = e1 - e0                          if e1 >= e0
    ΔE = (max_energy_range_uj - e0) + e1  otherwise (one wrap)

The meter polls every ``poll_interval_s`` (1 s by default), far below a wrap period
(max range / power, ≈ 4 min for a 1 kW package), so at most one wrap happens between readings.
The counters are host-wide: in DDP only one rank per host reads them.
"""
import os
import os.path as osp
import re
import threading
from typing import Dict, List

from .base import EnergySource, SourceUnavailable

ZONE_RE = re.compile(r'^[a-z]+-rapl:\d+(:\d+)*$')   # intel-rapl:0, amd-rapl:0:1; not -mmio


class _Zone:
    def __init__(self, path: str, name: str, component: str):
        self.path, self.name, self.component = path, name, component
        self.max_range = None
        self.last = None
        self.total_uj = 0

    def read_uj(self) -> int:
        with open(osp.join(self.path, 'energy_uj')) as f:
            return int(f.read().strip())

    def update(self) -> None:
        now = self.read_uj()
        if now >= self.last:
            self.total_uj += now - self.last
        else:
            self.total_uj += (self.max_range - self.last) + now
        self.last = now


class RaplSource(EnergySource):
    """Host CPU-package and DRAM energy (``measured``, scope ``host``)."""

    method = 'measured'
    scope = 'host'
    source = 'rapl'

    def __init__(self, root: str = '/sys/class/powercap'):
        self.root = root
        self.zones: List[_Zone] = []
        self.components = ()
        self.detail = f'RAPL counters under {root}'
        self._lock = threading.Lock()

    def _discover(self) -> List[_Zone]:
        if not osp.isdir(self.root):
            raise SourceUnavailable(
                f'no RAPL interface at {self.root} (not Linux, a virtual machine or container '
                f'without powercap, or the powercap RAPL driver is not loaded: '
                f'`sudo modprobe intel_rapl_msr`, which serves Intel and AMD Zen CPUs)')
        zones = []
        for entry in sorted(os.listdir(self.root)):
            if not ZONE_RE.match(entry):
                continue
            path = osp.join(self.root, entry)
            try:
                with open(osp.join(path, 'name')) as f:
                    name = f.read().strip()
            except OSError:
                continue
            if name.startswith('package'):
                zones.append(_Zone(path, name, 'cpu'))
            elif name == 'dram':
                zones.append(_Zone(path, name, 'dram'))
        if not zones:
            raise SourceUnavailable(f'{self.root} has no RAPL package/dram zones')
        return zones

    def open(self) -> None:
        zones = self._discover()
        unreadable = []
        for zone in zones:
            try:
                zone.last = zone.read_uj()
                with open(osp.join(zone.path, 'max_energy_range_uj')) as f:
                    zone.max_range = int(f.read().strip())
            except PermissionError:
                unreadable.append(osp.join(zone.path, 'energy_uj'))
            except (OSError, ValueError) as err:
                unreadable.append(f'{zone.path} ({err})')
        if unreadable:
            raise SourceUnavailable(
                f'RAPL counters are not readable by this user: {", ".join(unreadable)}. Since '
                f'Linux 5.10 energy_uj is root-only because unprivileged reads leak secrets '
                f'through power side channels (CVE-2020-8694, "Platypus"); do not make it '
                f'world-readable. Fix: give read access to a group of trusted users only, e.g. '
                f'a udev rule `SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chgrp power '
                f'/sys%p/energy_uj", RUN+="/bin/chmod g+r /sys%p/energy_uj"` with the user in '
                f'group `power`, or run the training with the CAP_DAC_READ_SEARCH capability '
                f'(e.g. a systemd unit with AmbientCapabilities=CAP_DAC_READ_SEARCH).')
        self.zones = zones
        self.components = tuple(sorted({z.component for z in zones}))
        names = ', '.join(sorted(f'{osp.basename(z.path)}={z.name}' for z in zones))
        self.detail = f'RAPL counters ({names}) under {self.root}'

    def poll(self) -> None:
        with self._lock:
            for zone in self.zones:
                zone.update()

    def read(self) -> Dict[str, float]:
        self.poll()
        out = {c: 0.0 for c in self.components}
        for zone in self.zones:
            out[zone.component] += zone.total_uj / 1e6
        return out
