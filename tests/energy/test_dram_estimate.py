"""DRAM without RAPL: an opt-in estimate from resident memory, labelled `estimated`."""
import time

import pytest

from mmkd_green.energy import CarbonFootprintHook, EnergyMeter
from mmkd_green.energy.sources.dram_estimate import (CODECARBON_W_PER_GB,
                                                     ResidentMemoryDramEstimate, resident_bytes)

from rapl_helpers import make_powercap


def test_off_by_default_without_rapl(tmp_path):
    meter = EnergyMeter(rapl_root=str(tmp_path / 'absent'), gpu_devices=None).start()
    record = meter.epoch_end()
    meter.stop()
    assert record['components']['dram']['method'] == 'unavailable'
    assert record['components']['dram']['energy_j'] is None


def test_estimate_is_w_per_gb_times_resident_gb_times_time(tmp_path):
    w = 2.0
    meter = EnergyMeter(rapl_root=str(tmp_path / 'absent'), gpu_devices=None, dram_w_per_gb=w,
                        poll_interval_s=0.05).start()
    t0 = time.monotonic()
    ballast = bytearray(200 * 2 ** 20)          # 200 MiB resident while metered
    ballast[::4096] = b'x' * len(ballast[::4096])
    time.sleep(0.3)
    record = meter.epoch_end()
    elapsed = time.monotonic() - t0
    meter.stop()
    dram = record['components']['dram']
    assert dram['method'] == 'estimated' and 'W/GB' in dram['detail']
    gb = resident_bytes() / 1e9
    # E = w x ∫ RSS dt: between the RSS before the ballast and the RSS with it
    assert w * (gb - 0.25) * elapsed * 0.5 < dram['energy_j'] < w * (gb + 0.05) * elapsed * 1.5
    assert record['measured'] and record['energy_j_it'] >= dram['energy_j']
    del ballast


def test_rapl_dram_zone_wins_and_bad_figures_are_rejected(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    meter = EnergyMeter(rapl_root=root, gpu_devices=None, dram_w_per_gb=0.375).start()
    record = meter.epoch_end()
    meter.stop()
    assert record['components']['dram']['method'] == 'measured'
    assert CODECARBON_W_PER_GB == 0.375
    for bad in (-1, float('inf'), 'x'):
        with pytest.raises(ValueError, match='dram_w_per_gb'):
            CarbonFootprintHook(dram_w_per_gb=bad)
    with pytest.raises(ValueError, match='dram_w_per_gb'):
        ResidentMemoryDramEstimate(-0.1)
