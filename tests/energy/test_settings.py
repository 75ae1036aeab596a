"""PUE / carbon-intensity settings: defaults, country table, validation at start, opt-in fetch."""
import http.server
import json
import threading

import pytest

from mmkd_green.energy import DEFAULT_CARBON_INTENSITY, DEFAULT_PUE, CarbonFootprintHook, EnergyMeter
from mmkd_green.energy.carbontracker_data import country_intensities, lookup_cpu_tdp
from mmkd_green.energy.settings import resolve_intensity


def test_defaults_are_the_documented_figures():
    meter = EnergyMeter(gpu_devices=None)
    assert (DEFAULT_PUE, DEFAULT_CARBON_INTENSITY) == (1.67, 475.0)
    assert (meter.pue, meter.carbon_intensity) == (1.67, 475.0)
    assert 'IEA' in meter.intensity_source


def test_country_code_uses_carbontrackers_table():
    value, source = resolve_intensity(country='dk')
    assert value == country_intensities()['DK'][0] and 'DK' in source
    assert 0 < value < 1000


@pytest.mark.parametrize('kwargs, match', [
    (dict(pue=0.9), r'`pue` must be >= 1'),
    (dict(pue=float('nan')), r'`pue` must be a finite number'),
    (dict(carbon_intensity=-1.0), r'`carbon_intensity` must be >= 0'),
    (dict(country='XX'), r"unknown `country` code 'XX'"),
    (dict(country='DK', carbon_intensity=100.0), r'not both'),
    (dict(cpu_power_per_core_w=0), r'`cpu_power_per_core_w` must be'),
    (dict(live_intensity=dict(token='t')), r'`live_intensity` must be a dict with a `zone`'),
])
def test_bad_settings_fail_when_the_hook_is_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CarbonFootprintHook(**kwargs)
    with pytest.raises(ValueError, match=match):
        EnergyMeter(**kwargs)


def test_cpu_table_matches_exact_models_only():
    assert lookup_cpu_tdp('AMD EPYC 7763 64-Core Processor') == ('AMD EPYC 7763', 280.0)
    assert lookup_cpu_tdp('Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz') == ('Intel Xeon Gold 6248', 150.0)
    assert lookup_cpu_tdp('AMD EPYC') is None        # carbontracker would pick the first EPYC


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):   # noqa: N802
        self.server.seen.append((self.path, self.headers.get('auth-token')))
        body = json.dumps(dict(zone='DK-DK1', carbonIntensity=123.5)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_live_intensity_is_opt_in_and_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv('MY_EM_TOKEN', 'abc')
    server = http.server.HTTPServer(('127.0.0.1', 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_port}/v3/carbon-intensity/latest'
        meter = EnergyMeter(gpu_devices=None, live_intensity=dict(zone='DK-DK1', token_env='MY_EM_TOKEN',
                                                                  timeout_s=5, url=url)).start()
        meter.stop()
        assert meter.carbon_intensity == 123.5 and 'live' in meter.intensity_source
        assert server.seen == [('/v3/carbon-intensity/latest?zone=DK-DK1', 'abc')]
    finally:
        server.shutdown()
    # a server that accepts but never answers: the timeout fires, the static value stays
    import socket
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(1)
    try:
        url = f'http://127.0.0.1:{silent.getsockname()[1]}/'
        meter = EnergyMeter(gpu_devices=None, carbon_intensity=300.0,
                            live_intensity=dict(zone='DK', timeout_s=0.5, url=url)).start()
        meter.stop()
        assert meter.carbon_intensity == 300.0 and meter.intensity_source == 'config'
    finally:
        silent.close()
