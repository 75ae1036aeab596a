"""RAPL reading against a fixture laid out like /sys/class/powercap."""
import logging
import os
import os.path as osp

import pytest

from mmkd_green.energy import EnergyMeter
from mmkd_green.energy.sources import RaplSource, SourceUnavailable

from rapl_helpers import MAX_RANGE, add_joules, make_powercap, set_uj


def test_packages_and_dram_summed_other_zones_skipped(tmp_path):
    root = make_powercap(tmp_path)
    src = RaplSource(root)
    src.open()
    assert src.components == ('cpu', 'dram')
    assert sorted(z.name for z in src.zones) == ['dram', 'dram', 'package-0', 'package-1']
    add_joules(root, 'intel-rapl:0', 10.0)
    add_joules(root, 'intel-rapl:1', 5.5)
    add_joules(root, 'intel-rapl:0:2', 2.0)
    add_joules(root, 'intel-rapl:1:0', 1.0)
    for skipped in ('intel-rapl:0:0', 'intel-rapl:0:1', 'intel-rapl:2', 'intel-rapl-mmio:0'):
        add_joules(root, skipped, 1000.0)   # must not show up anywhere
    assert src.read() == pytest.approx({'cpu': 15.5, 'dram': 3.0})


def test_wrap_around(tmp_path):
    root = make_powercap(tmp_path)
    set_uj(root, 'intel-rapl:0', MAX_RANGE - 3_000_000)       # 3 J before the wrap
    src = RaplSource(root)
    src.open()
    add_joules(root, 'intel-rapl:0', 2.0)
    src.poll()                                                 # a reading before the wrap
    add_joules(root, 'intel-rapl:0', 4.0)                      # wraps: counter now ~3 J
    assert open(osp.join(root, 'intel-rapl:0', 'energy_uj')).read().strip() == '3000000'
    assert src.read()['cpu'] == pytest.approx(6.0)
    add_joules(root, 'intel-rapl:0', 1.0)
    assert src.read()['cpu'] == pytest.approx(7.0)


def test_missing_dir_and_unreadable_counter_have_the_fix(tmp_path):
    with pytest.raises(SourceUnavailable, match='no RAPL interface'):
        RaplSource(str(tmp_path / 'absent')).open()
    root = make_powercap(tmp_path / 'pc')
    target = osp.join(root, 'intel-rapl:1', 'energy_uj')
    os.remove(target)
    os.mkdir(target)          # unreadable as a counter even for root
    with pytest.raises(SourceUnavailable, match=r'not readable.*intel-rapl:1.*CVE-2020-8694.*chmod g\+r'):
        RaplSource(root).open()


def test_meter_measures_from_fixture(tmp_path):
    root = make_powercap(tmp_path)
    meter = EnergyMeter(rapl_root=root, gpu_devices=None, pue=1.5, carbon_intensity=400.0).start()
    meter.epoch_start()
    add_joules(root, 'intel-rapl:0', 3600.0)
    add_joules(root, 'intel-rapl:0:2', 360.0)
    rec = meter.epoch_end(iters=1)
    assert rec['components']['cpu'] == dict(energy_j=pytest.approx(3600.0), method='measured', source='rapl',
                                            detail=rec['components']['cpu']['detail'])
    assert rec['components']['dram']['energy_j'] == pytest.approx(360.0)
    assert rec['components']['dram']['method'] == 'measured'
    assert rec['energy_kwh_it'] == pytest.approx(3960.0 / 3.6e6)
    assert rec['energy_kwh'] == pytest.approx(1.5 * 3960.0 / 3.6e6)
    assert rec['co2_g'] == pytest.approx(400.0 * 1.5 * 3960.0 / 3.6e6)
    assert rec['measured'] is True
    final = meter.stop()
    assert final['energy_j_it'] == pytest.approx(0.0)


def test_meter_falls_back_to_labelled_estimate_and_says_why_once(tmp_path, caplog):
    root = make_powercap(tmp_path)
    os.remove(osp.join(root, 'intel-rapl:0', 'energy_uj'))
    os.mkdir(osp.join(root, 'intel-rapl:0', 'energy_uj'))
    logger = logging.getLogger('test_energy_fallback')
    with caplog.at_level(logging.WARNING, logger='test_energy_fallback'):
        meter = EnergyMeter(rapl_root=root, gpu_devices=None, logger=logger).start()
        meter.epoch_start()
        for _ in range(3):
            meter.epoch_end()
        meter.stop()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and 'chmod g+r' in warnings[0] and 'ESTIMATED' in warnings[0]
    assert 'a+r' not in warnings[0]   # never advise world-readable counters (CVE-2020-8694)
    rec = meter.records[0]
    assert rec['components']['cpu']['method'] == 'estimated'
    assert rec['components']['dram'] == dict(energy_j=None, method='unavailable', source=None,
                                             detail=rec['components']['dram']['detail'])


def test_counter_failing_mid_run_marks_unmeasured(tmp_path, caplog):
    root = make_powercap(tmp_path)
    meter = EnergyMeter(rapl_root=root, gpu_devices=None, poll_interval_s=0.05).start()
    meter.epoch_start()
    add_joules(root, 'intel-rapl:0', 1.0)
    assert meter.epoch_end()['measured'] is True
    os.remove(osp.join(root, 'intel-rapl:1', 'energy_uj'))     # the counter disappears
    rec = meter.epoch_end()
    assert rec['measured'] is False and rec['components']['cpu']['energy_j'] is None
    meter.stop()
