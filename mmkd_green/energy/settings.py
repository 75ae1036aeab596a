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
    # a fresh opener: proxies from the environment as it is now (urlopen caches its first one)
    with urllib.request.build_opener().open(request, timeout=timeout_s) as response:
        payload = json.loads(response.read().decode('utf-8'))
    return check_intensity(float(payload['carbonIntensity']), 'carbonIntensity (live)')


# ---------------------------------------------------------------------- meter settings
POLL_INTERVAL_RANGE_S = (0.01, 60.0)
LIVE_INTENSITY_KEYS = ('zone', 'token_env', 'timeout_s', 'url')
DEFAULT_TOKEN_ENV = 'ELECTRICITYMAPS_TOKEN'


def check_poll_interval(value) -> float:
    """Background poll period: RAPL counters wrap after minutes at high power, so the period must
    stay far below that; below 10 ms the polling thread itself costs CPU time."""
    low, high = POLL_INTERVAL_RANGE_S
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f'`poll_interval_s` must be a number of seconds in [{low:g}, {high:g}] '
                         f'(default 1.0), got {value!r}')
    return float(value)


def check_gpu_devices(value):
    """``'auto'``, ``None``/``[]``, a list/tuple of CUDA indices >= 0, or a callable returning one
    of these (resolved when the first epoch starts)."""
    if value in ('auto', None) or callable(value):
        return value
    if isinstance(value, (list, tuple)) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        return list(value)
    raise ValueError(f'`gpu_devices` must be "auto" (the CUDA devices the model is on when the '
                     f'first epoch starts), None or [] (no GPU metering), or a list of CUDA '
                     f'indices >= 0 such as [0, 1]; got {value!r}')


def check_interval(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f'CarbonFootprintHook: `interval` must be None (default: the loop\'s '
                         f'val_interval, else 1000) or an int >= 1 (iterations per record), got '
                         f'{value!r}')
    return value


def check_live_intensity(value) -> Optional[dict]:
    """``dict(zone='DK-DK1', token_env='ELECTRICITYMAPS_TOKEN', timeout_s=5.0[, url=...])``.

    The API token is read from the environment variable ``token_env`` at start, never from the
    config (mmengine dumps the config into the work_dir and the logs)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get('zone'), str):
        raise ValueError('`live_intensity` must be a dict with a `zone` (e.g. dict(zone="DK-DK1", '
                         f'token_env="{DEFAULT_TOKEN_ENV}", timeout_s=5.0)), got {value!r}'
                         if not isinstance(value, dict) or 'token' not in value else
                         '`live_intensity` must be a dict with a `zone` (e.g. dict(zone='
                         f'"DK-DK1", token_env="{DEFAULT_TOKEN_ENV}", timeout_s=5.0))')
    if 'token' in value:
        raise ValueError('`live_intensity` must not hold the API token (the config is dumped '
                         'into the work_dir and logged). Put it in an environment variable and '
                         f'name that: live_intensity=dict(zone=..., token_env='
                         f'"{DEFAULT_TOKEN_ENV}") (the default name).')
    unknown = set(value) - set(LIVE_INTENSITY_KEYS)
    if unknown:
        raise ValueError(f'`live_intensity` has unknown keys {sorted(unknown)}; allowed: '
                         f'{", ".join(LIVE_INTENSITY_KEYS)}')
    if not isinstance(value.get('token_env', DEFAULT_TOKEN_ENV), str):
        raise ValueError(f'`live_intensity.token_env` must be the name of an environment '
                         f'variable, got {value["token_env"]!r}')
    timeout = value.get('timeout_s', 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ValueError(f'`live_intensity.timeout_s` must be in (0, 60] s, got {timeout!r}')
    return dict(value)
