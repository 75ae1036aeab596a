"""A carbon budget stops a real run at the end of an epoch with a checkpoint, and the run resumes
with a higher budget. Energy is known exactly (RAPL fixture + FixedEnergy): 0.01 kWh per epoch."""
import json
import os.path as osp

import pytest

import mmkd_green  # noqa: F401
from mmkd_green.energy import CarbonFootprintHook, load_run_totals

from fixed_energy import FixedEnergy
from rapl_helpers import make_powercap
from energy_helpers import build_runner

EPOCH_J = 36000.0            # 8 iterations x 4500 J = 0.01 kWh (PUE 1)
CI = 500.0                   # g CO2/kWh: 5 g per epoch


def _lines(work_dir):
    return [json.loads(line) for line in open(osp.join(work_dir, 'carbon', 'carbon.jsonl'))]


def _run(work_dir, root, resume=False, epochs=4, **budget):
    hooks = [dict(type='CarbonFootprintHook', rapl_root=str(root), pue=1.0, carbon_intensity=CI,
                  count_flops=False, **budget), FixedEnergy(root, per_iter=EPOCH_J / 8)]
    runner = build_runner(work_dir, hooks, epochs=epochs, val=False, resume=resume)
    runner.train()
    return runner


def test_predicted_total_over_budget_stops_after_epoch_1_then_resumes(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    runner = _run(work, root, budget_kwh=0.025)           # predicted 0.04 kWh
    assert runner.train_loop.epoch == 1
    assert osp.isfile(work / 'epoch_1.pth')
    assert open(work / 'last_checkpoint').read().strip().endswith('epoch_1.pth')
    lines = _lines(work)
    (stop,) = [r for r in lines if r['type'] == 'budget_stop']
    assert 'predicted total 0.04 kWh' in stop['reason'] and 'budget 0.025' in stop['reason']
    assert stop['stops_after'] == dict(unit='epoch', value=1)
    assert stop['forecast']['energy_kwh'] == pytest.approx(0.04)
    final = lines[-1]
    assert final['type'] == 'final' and final['stop_reason'].startswith('carbon budget: predicted')
    assert final['budget'] == dict(budget_kwh=0.025, budget_co2_g=None)
    summary = json.load(open(work / 'carbon' / 'summary.json'))['prediction']
    assert not summary['complete'] and summary['predictions'] == []   # stopped before predicting
    assert 'stopped' in summary['note']

    # --resume with a higher budget: epochs 2..4, every attempt counted against the budget
    runner = _run(work, root, resume=True, budget_kwh=0.05)
    assert runner.train_loop.epoch == 4
    lines = _lines(work)
    assert [r['epoch'] for r in lines if r['type'] == 'epoch'] == [1, 2, 3, 4]
    totals = load_run_totals(str(work))
    assert totals['finished'] and totals['attempts'] == 2
    assert totals['energy_kwh'] == pytest.approx(0.04)
    (pred,) = [r for r in lines if r['type'] == 'predicted']          # attempt 2, after epoch 2
    assert pred['spent']['energy_kwh'] == pytest.approx(0.02)
    assert pred['energy_kwh'] == pytest.approx(0.04)
    summary = json.load(open(work / 'carbon' / 'summary.json'))['prediction']
    assert summary['complete'] and len(summary['budget_stops']) == 1
    assert summary['predictions'][0]['error']['energy_kwh'] == pytest.approx(0.0, abs=1e-9)


def test_running_total_stops_before_the_prediction_and_a_spent_budget_trains_nothing(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    runner = _run(work, root, budget_kwh=0.025, predict_after=3)
    # after epoch 1: 0.01 + 0.01 <= 0.025; after epoch 2: 0.02 + 0.01 > 0.025
    assert runner.train_loop.epoch == 2 and osp.isfile(work / 'epoch_2.pth')
    (stop,) = [r for r in _lines(work) if r['type'] == 'budget_stop']
    assert stop['reason'].startswith('running total 0.02 kWh')

    # resumed with the same budget: one more epoch would exceed it, so nothing is trained
    runner = _run(work, root, resume=True, budget_kwh=0.025, predict_after=3)
    assert runner.train_loop.epoch == 2
    lines = _lines(work)
    assert [r['epoch'] for r in lines if r['type'] == 'epoch'] == [1, 2]
    stop = [r for r in lines if r['type'] == 'budget_stop'][-1]
    assert 'earlier attempts spent 0.02 kWh' in stop['reason']
    assert stop['stops_after'] == dict(unit='epoch', value=2)
    assert lines[-1]['type'] == 'final' and 'earlier attempts' in lines[-1]['stop_reason']


def test_co2_budget(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    runner = _run(tmp_path / 'run', root, epochs=3, budget_co2_g=12.0)   # predicted 15 g
    assert runner.train_loop.epoch == 1
    (stop,) = [r for r in _lines(tmp_path / 'run') if r['type'] == 'budget_stop']
    assert 'predicted total 15 g CO2' in stop['reason']


def test_no_budget_by_default_and_bad_budgets_rejected(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    runner = _run(tmp_path / 'run', root, epochs=2)
    assert runner.train_loop.epoch == 2
    lines = _lines(tmp_path / 'run')
    assert not any(r['type'] == 'budget_stop' for r in lines)
    assert 'budget' not in lines[-1] and 'stop_reason' not in lines[-1]
    for bad in (0, -1.0, float('nan'), 'x'):
        with pytest.raises(ValueError, match='budget_kwh'):
            CarbonFootprintHook(budget_kwh=bad)
    with pytest.raises(ValueError, match='budget_co2_g'):
        CarbonFootprintHook(budget_co2_g=0)
