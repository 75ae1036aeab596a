"""Conversion settings of the meter: PUE and carbon intensity, validated at start.

Formulas (per record)::

    E_it   = E_gpu + E_cpu + E_dram                  (J, energy at the IT equipment)
    kWh_it = E_it / 3.6e6
    kWh    = PUE * kWh_it                            (energy at the facility)
    g CO2  = kWh * carbon_intensity                  (g CO2-eq/kWh)

Defaults:

* ``DEFAULT_PUE = 1.67``: average data-centre PUE of the Uptime Institute's 2019 Global Data
  Center Survey, the figure the paper uses. (carbontracker hard-codes 1.58; here it is a setting.)
* ``DEFAULT_CARBON_INTENSITY = 475.0`` g CO2-eq/kWh: world-average carbon intensity of
  electricity generation in 2018, IEA "Global Energy & CO2 Status Report 2019".
* ``country='DK'`` (ISO 3166-1 alpha-2) replaces the default by carbontracker's shipped table
  (:mod:`.carbontracker_data`); an unknown code is an error at start.
* Live intensity is opt-in only (:func:`fetch_live_intensity`); nothing touches the network
  unless ``live_intensity`` is given, and then only with a timeout.
"""
import json
import math
import urllib.parse
import urllib.request
from typing import Optional, Tuple

DEFAULT_PUE = 1.67
DEFAULT_CARBON_INTENSITY = 475.0
JOULES_PER_KWH = 3.6e6
ELECTRICITYMAPS_URL = 'https://api.electricitymaps.com/v3/carbon-intensity/latest'


def check_pue(pue) -> float:
    if isinstance(pue, bool) or not isinstance(pue, (int, float)) or not math.isfinite(pue):
        raise ValueError(f'`pue` must be a finite number >= 1, got {pue!r}')
    if pue < 1:
        raise ValueError(f'`pue` must be >= 1 (facility energy / IT energy cannot be below 1), '
                         f'got {pue}. Use 1.0 to report IT energy only, or the default '
                         f'{DEFAULT_PUE} (Uptime Institute 2019).')
    return float(pue)


def check_intensity(value, name='carbon_intensity') -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'`{name}` must be a finite number of g CO2-eq/kWh, got {value!r}')
    if value < 0:
        raise ValueError(f'`{name}` must be >= 0 g CO2-eq/kWh, got {value}. The world average '
                         f'{DEFAULT_CARBON_INTENSITY} is the default.')
    return float(value)


def country_intensity(country: str) -> Tuple[float, str]:
    """``(g CO2-eq/kWh, description)`` for an alpha-2 country code from carbontracker's table."""
    from .carbontracker_data import country_intensities
    if not isinstance(country, str) or not country.strip():
        raise ValueError(f'`country` must be an ISO 3166-1 alpha-2 code such as "DK", got {country!r}')
    table = country_intensities()
    code = country.strip().upper()
    if code not in table:
        close = sorted(c for c in table if c[0] == code[:1])[:12]
        raise ValueError(f'unknown `country` code {country!r}: not in carbontracker\'s carbon-'
                         f'intensity table ({len(table)} alpha-2 codes; same first letter: '
                         f'{", ".join(close) or "none"}). Use an ISO 3166-1 alpha-2 code, or set '
                         f'`carbon_intensity` in g CO2-eq/kWh and `country=None`.')
    value, year, entity = table[code]
    return value, f'{entity} ({code}) {year}, carbontracker table'


def resolve_intensity(carbon_intensity: Optional[float] = None,
                      country: Optional[str] = None) -> Tuple[float, str]:
    """The run's static carbon intensity and where it comes from.

    ``country`` wins over ``carbon_intensity`` (giving both is an error); neither gives the
    world-average default.
    """
    if country is not None and carbon_intensity is not None:
        raise ValueError('give either `carbon_intensity` (g CO2-eq/kWh) or `country` (looked up '
                         'in carbontracker\'s table), not both')
    if country is not None:
        return country_intensity(country)
    if carbon_intensity is None:
        return DEFAULT_CARBON_INTENSITY, 'world average 2018, IEA Global Energy & CO2 Status Report 2019'
    return check_intensity(carbon_intensity), 'config'


def fetch_live_intensity(zone: str, token: Optional[str] = None, timeout_s: float = 5.0,
                         url: str = ELECTRICITYMAPS_URL) -> float:
    """Opt-in: latest g CO2-eq/kWh for ``zone`` from the Electricity Maps v3 API.

    ``GET {url}?zone=ZONE`` with header ``auth-token: TOKEN``; the JSON answer's
    ``carbonIntensity`` is returned. Raises on timeout, HTTP error or a malformed answer (the
    caller falls back to the static value and says so).
    """
    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 60):
        raise ValueError(f'live intensity `timeout_s` must be in (0, 60] s, got {timeout_s!r}')
    query = urllib.parse.urlencode({'zone': zone})
    request = urllib.request.Request(f'{url}?{query}', headers={'auth-token': token or ''})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        payload = json.loads(response.read().decode('utf-8'))
    return check_intensity(float(payload['carbonIntensity']), 'carbonIntensity (live)')
