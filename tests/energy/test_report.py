"""tools/carbon_report.py: the paper's table (grid runs summed next to the stochastic run) and
plots, from run folders written by the meter."""
import csv
import os.path as osp

import pytest

from mmkd_green.energy import EnergyMeter, load_run_totals
from mmkd_green.energy.records import append_record
from mmkd_green.energy.sources import process_cpu_seconds
from mmkd_green.energy.tau_stats import TauStats
from tools.carbon_report import main as carbon_report


def _make_run(run_dir, sampler, taus, flops, acc, rapl_root):
    """A run folder as CarbonFootprintHook writes it: start, epoch, val, final lines."""
    jsonl = osp.join(run_dir, 'carbon', 'carbon.jsonl')
    meter = EnergyMeter(gpu_devices=None, rapl_root=rapl_root, cpu_power_per_core_w=10.0).start()
    append_record(jsonl, dict(type='start', run_info=dict(sampler=sampler)))
    for epoch in (1, 2):
        stats = TauStats()
        for t in taus:
            stats.add(t)
        t0 = process_cpu_seconds()     # at least a few clock ticks of CPU, even on a busy host
        while process_cpu_seconds() - t0 < 0.03:
            sum(i * i for i in range(20000))
        append_record(jsonl, meter.epoch_end(epoch=epoch, train_flops=flops, iters=len(taus),
                                             tau=stats.summary()))
        append_record(jsonl, dict(type='val', epoch=epoch, metrics=dict(accuracy=acc),
                                  infer_flops_per_image=100.0))
    append_record(jsonl, meter.stop())
    return run_dir


@pytest.fixture()
def runs(tmp_path):
    root = str(tmp_path / 'no_rapl')
    return [
        _make_run(str(tmp_path / 'tau_2'), dict(type='ConstantTemperature', tau=2.0), [2.0] * 4,
                  1000, 0.5, root),
        _make_run(str(tmp_path / 'tau_8'), dict(type='ConstantTemperature', tau=8.0), [8.0] * 4,
                  1000, 0.6, root),
        _make_run(str(tmp_path / 'uniform'), dict(type='UniformTemperature', low=2.0, high=20.0),
                  [2.5, 7.0, 13.2, 19.9], 1000, 0.7, root),
    ]


def test_table_sums_grid_and_gives_ratio(runs, tmp_path):
    out = str(tmp_path / 'report')
    rows = carbon_report([*runs, '--out', out])
    by_run = {r['run']: r for r in rows}
    totals = {osp.basename(d): load_run_totals(d) for d in runs}
    grid = by_run['grid total (2 runs)']
    assert grid['train_flops'] == 4000
    assert grid['co2_g'] == pytest.approx(totals['tau_2']['co2_g'] + totals['tau_8']['co2_g'])
    ratio = by_run['ratio grid/uniform']
    assert ratio['train_flops'] == pytest.approx(2.0)
    assert ratio['kwh'] == pytest.approx(grid['kwh'] / totals['uniform']['energy_kwh'])
    assert by_run['uniform']['metric'] == 'accuracy=0.7' and by_run['tau_2']['group'] == 'grid'
    assert [r['run'] for r in rows] == ['tau_2', 'tau_8', 'grid total (2 runs)', 'uniform',
                                        'ratio grid/uniform']
    md = open(osp.join(out, 'carbon_report.md')).read()
    assert md.startswith('| run | group | metric | train FLOPs') and 'ratio grid/uniform' in md
    with open(osp.join(out, 'carbon_report.csv')) as f:
        csv_rows = list(csv.DictReader(f))
    assert float(csv_rows[2]['co2_g']) == pytest.approx(grid['co2_g'])
    for png in ('energy_per_epoch.png', 'cumulative_co2.png', 'tau_histogram.png'):
        with open(osp.join(out, png), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_group_by_glob(runs, tmp_path):
    rows = carbon_report([*runs, '--out', str(tmp_path / 'r2'), '--group-by-glob', 'tau_8'])
    assert [r['run'] for r in rows if r['group'] == 'grid'] == ['tau_8']
