"""Read-only access to the data files shipped with carbontracker (never its tracker).

carbontracker 2.4.7 ships two tables that we reuse as data:

* ``data/carbon-intensities.csv``: carbon intensity of electricity per country (ISO 3166-1 alpha-2
  code, year, g CO2-eq/kWh; Our World in Data / Ember figures for 2023-2024);
* ``data/cpu_power.csv``: CPU model name -> TDP in W.

The files are located with :func:`importlib.util.find_spec`, which does *not* execute
``carbontracker/__init__.py``: no carbontracker module is imported, so nothing can geolocate,
open a socket or call ``os._exit``.
"""
import csv
import functools
import importlib.util
import os.path as osp
import re
from typing import Dict, Optional, Tuple


def carbontracker_data_file(name: str) -> str:
    """Path of ``carbontracker/data/<name>``; raises with the install command when missing."""
    spec = importlib.util.find_spec('carbontracker')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'carbontracker is not installed, so its data table '
            f'{name!r} cannot be read. Install it: `pip install carbontracker==2.4.7` '
            '(requirements/runtime.txt), or give the value explicitly in the config.')
    path = osp.join(list(spec.submodule_search_locations)[0], 'data', name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'carbontracker data file not found: {path}')
    return path


@functools.lru_cache(maxsize=None)
def country_intensities() -> Dict[str, Tuple[float, int, str]]:
    """``{alpha-2 code: (g CO2-eq/kWh, year, country name)}`` from carbontracker's table."""
    table = {}
    with open(carbontracker_data_file('carbon-intensities.csv'), newline='') as f:
        for row in csv.DictReader(f):
            code = (row.get('alpha-2') or '').strip().upper()
            value = row.get('Carbon intensity of electricity (gCO2eq/kWh)')
            if not code or not value:
                continue
            table[code] = (float(value), int(row.get('Year') or 0), row.get('Entity', code))
    return table


def _parse_tdp(text: str) -> Optional[float]:
    """carbontracker's TDP column: ``'95'``, ``'4.5'`` or a range written ``'33.34.8'``
    (= 33.3 .. 34.8 W, taken at its midpoint, as carbontracker does)."""
    parts = text.strip().split('.')
    try:
        if len(parts) == 3:
            return (float(f'{parts[0]}.{parts[1]}') + float(f'{parts[0]}.{parts[2]}')) / 2
        return float(text)
    except ValueError:
        return None


def normalise_cpu_name(brand: str) -> str:
    """``'Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz'`` -> ``'intel xeon gold 6248'``;
    ``'AMD EPYC 7763 64-Core Processor'`` -> ``'amd epyc 7763'``."""
    s = re.sub(r'\((R|TM|r|tm)\)', ' ', brand)
    s = re.sub(r'@.*$', ' ', s)
    s = re.sub(r'\b\d+-Core\b|\bProcessor\b|\bCPU\b|with Radeon.*$', ' ', s, flags=re.I)
    return ' '.join(s.lower().split())


@functools.lru_cache(maxsize=None)
def lookup_cpu_tdp(brand: str) -> Optional[Tuple[str, float]]:
    """``(table name, TDP W)`` for an exact match of the normalised model name, else ``None``.

    Only exact matches count: carbontracker's own substring match maps a bare ``'AMD EPYC'``
    (what many VMs report) to the first EPYC in its table, which we do not want. Rows are
    normalised only when they contain the brand's last word (the model number), so a lookup
    reads the 4k-row table in a few ms.
    """
    target = normalise_cpu_name(brand or '')
    if not target:
        return None
    key = target.split()[-1]
    with open(carbontracker_data_file('cpu_power.csv'), newline='') as f:
        header = next(csv.reader([f.readline()]))
        # a raw substring test first: only the few lines naming the model number are parsed
        for line in f:
            if key not in line.lower():
                continue
            row = dict(zip(header, next(csv.reader([line]))))
            name = row.get('Name') or ''
            if key in name.lower() and normalise_cpu_name(name) == target:
                tdp = _parse_tdp(row.get('TDP') or '')
                if tdp is not None and tdp > 0:
                    return name, tdp
    return None
