"""A budget that cannot be checked the usual way: a one-epoch run (nothing left to stop, no
prediction possible) and a resume whose earlier records hold a bad line (issue 23).
Energy is known exactly (RAPL fixture + FixedEnergy): 0.01 kWh per epoch, PUE 1."""
import json
import os.path as osp

import pytest

import mmkd_green  # noqa: F401
from mmkd_green.energy import load_run_totals

from rapl_helpers import make_powercap
from test_budget import _run   # CarbonFootprintHook (PUE 1, 500 g/kWh) + FixedEnergy, 0.01 kWh/epoch


def _lines(work_dir):
    """The record lines, without the bad lines the tests write."""
    lines = [json.loads(line) for line in open(osp.join(work_dir, 'carbon', 'carbon.jsonl'),
                                               encoding='utf-8', errors='replace')
             if line.strip().startswith('{')]
    return [r for r in lines if not isinstance(r.get('energy_kwh'), str)]


def test_one_epoch_run_over_its_budget_is_reported_and_says_it_cannot_predict(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    runner = _run(work, root, epochs=1, budget_kwh=0.001)      # spends 0.01 kWh: 10x
    assert runner.train_loop.epoch == 1
    lines = _lines(work)
    (over,) = [r for r in lines if r['type'] == 'budget_exceeded']
    assert 'spent 0.01 kWh, 10x the budget 0.001 kWh' in over['reason']
    assert over['spent']['energy_kwh'] == pytest.approx(0.01)
    final = lines[-1]
    assert final['type'] == 'final' and final['budget_exceeded'] == over['reason']
    assert 'no cost prediction: 1 epoch(s) left' in final['no_prediction']
    summary = json.load(open(work / 'carbon' / 'summary.json'))['prediction']
    assert summary['budget_exceeded'][0]['reason'] == over['reason']
    log = open(next(work.glob('*/*.log'))).read()
    assert 'BUDGET EXCEEDED' in log and 'no cost prediction' in log


def test_one_epoch_run_within_budget_has_no_exceeded_line(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    _run(tmp_path / 'run', root, epochs=1, budget_kwh=0.05)
    lines = _lines(tmp_path / 'run')
    assert not any(r['type'] in ('budget_exceeded', 'budget_stop') for r in lines)
    assert 'budget_exceeded' not in lines[-1]


@pytest.mark.parametrize('bad', [b'\xff\xfe not utf-8\n', b'null\n',
                                 b'{"type": "epoch", "energy_kwh": "0.5"}\n'])
def test_resume_with_a_bad_record_line_stops_with_a_budget_and_still_writes_the_summary(
        tmp_path, bad):
    """One bad line must not make the earlier spend read as 0: with a budget the resumed run
    trains nothing, names the line and the fix, and summary.json is written."""
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    _run(work, root, epochs=4, budget_kwh=0.025, predict_after=5)   # stops after epoch 2
    jsonl = work / 'carbon' / 'carbon.jsonl'
    with open(jsonl, 'ab') as f:
        f.write(bad)
    bad_no = sum(1 for _ in open(jsonl, 'rb'))             # the bad line is the last one
    runner = _run(work, root, resume=True, epochs=4, budget_kwh=1.0, predict_after=5)
    assert runner.train_loop.epoch == 2                 # nothing trained after the resume
    lines = _lines(work)
    assert [r['epoch'] for r in lines if r['type'] == 'epoch'] == [1, 2]
    stop = [r for r in lines if r['type'] == 'budget_stop'][-1]
    assert 'spend of earlier attempts is unknown' in stop['reason']
    assert f'line {bad_no} (' in stop['reason'] and 'repair or delete' in stop['reason']
    summary = json.load(open(work / 'carbon' / 'summary.json'))
    assert summary['torn_lines'] == 1
    assert summary['totals']['energy_kwh'] == pytest.approx(0.02)
    assert load_run_totals(str(work))['epochs'] == 2


def test_resume_with_a_bad_line_and_no_budget_counts_the_rest(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    _run(work, root, epochs=4, budget_kwh=0.025, predict_after=5)
    with open(work / 'carbon' / 'carbon.jsonl', 'ab') as f:
        f.write(b'\xff\n')
    runner = _run(work, root, resume=True, epochs=3)
    assert runner.train_loop.epoch == 3
    totals = load_run_totals(str(work))
    assert totals['finished'] and totals['energy_kwh'] == pytest.approx(0.03)
