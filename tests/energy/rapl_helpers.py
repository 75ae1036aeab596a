"""A directory laid out like /sys/class/powercap (two sockets with DRAM, plus the zones a real
machine has that must NOT be counted: core, uncore, psys, the MMIO mirror of package-0)."""
import os
import os.path as osp

MAX_RANGE = 262143328850     # µJ, a real package's max_energy_range_uj

ZONES = {
    'intel-rapl:0': 'package-0', 'intel-rapl:0:0': 'core', 'intel-rapl:0:1': 'uncore',
    'intel-rapl:0:2': 'dram', 'intel-rapl:1': 'package-1', 'intel-rapl:1:0': 'dram',
    'intel-rapl:2': 'psys', 'intel-rapl-mmio:0': 'package-0',
}


def make_powercap(root, start_uj=1_000_000) -> str:
    os.makedirs(osp.join(root, 'intel-rapl'), exist_ok=True)      # the control-type dir
    for zone, name in ZONES.items():
        d = osp.join(root, zone)
        os.makedirs(d, exist_ok=True)
        with open(osp.join(d, 'name'), 'w') as f:
            f.write(name + '\n')
        with open(osp.join(d, 'max_energy_range_uj'), 'w') as f:
            f.write(f'{MAX_RANGE}\n')
        set_uj(root, zone, start_uj)
    return str(root)


def get_uj(root, zone) -> int:
    with open(osp.join(root, zone, 'energy_uj')) as f:
        return int(f.read())


def set_uj(root, zone, value) -> None:
    with open(osp.join(root, zone, 'energy_uj'), 'w') as f:
        f.write(f'{int(value)}\n')


def add_joules(root, zone, joules) -> None:
    """Advance a counter by ``joules``, wrapping at MAX_RANGE like the kernel does."""
    set_uj(root, zone, (get_uj(root, zone) + int(joules * 1e6)) % MAX_RANGE)
