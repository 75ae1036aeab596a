"""Detection τ study: the summary math, and the whole chain on real BCCD images (tiny)."""
import csv
import json
import os.path as osp

import pytest

from mmkd_green.detection import tau_study


def rows():
    out = []
    for seed, (m1, m4, ms) in enumerate([(0.30, 0.50, 0.52), (0.34, 0.46, 0.48)]):
        for setting, tau, m in (('tau1', 1.0, m1), ('tau4', 4.0, m4), ('stochastic', None, ms)):
            out.append(dict(run=f'{setting}_seed{seed}', setting=setting, tau=tau, seed=seed,
                            mAP=m, energy_kwh=1e-3 * (seed + 1), co2_g=0.5, seconds=10.0,
                            train_flops=1e12, epochs=1, finished=True))
    return out


def test_plan_and_summary():
    plan = tau_study.study_plan([1, 4], [0, 1], 'fixed.py', 'sto.py')
    assert [r['name'] for r in plan] == ['tau1_seed0', 'tau4_seed0', 'stochastic_seed0',
                                        'tau1_seed1', 'tau4_seed1', 'stochastic_seed1']
    assert plan[1]['cfg_options'] == ['temperature.tau=4.0'] and plan[2]['config'] == 'sto.py'
    s = tau_study.summarize(rows())
    assert s['settings']['tau4']['map_median'] == pytest.approx(0.48)
    assert (s['settings']['tau1']['map_min'], s['settings']['tau1']['map_max']) == (0.30, 0.34)
    assert s['best_fixed'] == 'tau4' and s['stochastic_map'] == pytest.approx(0.50)
    # grid = median kWh of tau1 + tau4 = 2 x 1.5e-3; stochastic median 1.5e-3
    assert s['grid_over_stochastic_energy'] == pytest.approx(2.0)
    assert 'τ ~ U[2, 20]' in tau_study.table_markdown(s)


def test_outputs_written_and_parseable(tmp_path):
    summary = tau_study.write_outputs(rows(), str(tmp_path))
    saved = json.load(open(summary['files']['json']))
    assert saved['summary']['best_fixed'] == 'tau4' and len(saved['runs']) == 6
    assert len(list(csv.DictReader(open(summary['files']['csv'])))) == 6
    assert open(summary['files']['png'], 'rb').read(4) == b'\x89PNG'


def test_smoke_study_on_bccd(shared_data, tmp_path, repo_root, monkeypatch):
    """Teacher + 2 KD runs (τ = 4, stochastic) x 1 epoch on 8 BCCD images, end to end."""
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401
    monkeypatch.chdir(repo_root)
    kwargs = dict(tau_study.PROFILES['smoke'], subset=8,
                  data_root=osp.join(shared_data, 'BCCD') + '/')
    summary = tau_study.run_study(str(tmp_path / 'study'), quiet=False, **kwargs)
    runs = json.load(open(summary['files']['json']))['runs']
    assert [r['run'] for r in runs] == ['tau4_seed0', 'stochastic_seed0']
    assert all(r['finished'] and 0.0 <= r['mAP'] <= 1.0 and r['energy_kwh'] > 0 for r in runs)
    assert summary['teacher']['finished']
    # a rerun trains nothing and gives the same table
    again = tau_study.run_study(str(tmp_path / 'study'), quiet=False, **kwargs)
    assert again['settings'] == summary['settings']
