"""The whole-run prediction on real mmengine runs whose energy per phase is known exactly (RAPL
fixture + FixedEnergy), so the predicted total has a closed form."""
import json

import pytest

import mmkd_green  # noqa: F401
from mmkd_green.energy import load_run_totals
from mmkd_green.energy.prediction import forecast_run, merge_ledgers, prediction_error

from fixed_energy import FixedEnergy
from rapl_helpers import make_powercap
from energy_helpers import build_runner

PUE, CI = 1.67, 475.0


def _lines(work_dir):
    return [json.loads(line) for line in open(work_dir / 'carbon' / 'carbon.jsonl')]


def _hook(root, **kw):
    return dict(type='CarbonFootprintHook', rapl_root=root, pue=PUE, carbon_intensity=CI,
                count_flops=False, **kw)


def _kwh(joules):
    return PUE * joules / 3.6e6


def test_prediction_after_epoch_1_matches_closed_form(tmp_path):
    """4 epochs of 8 iterations, validation (2 iterations) after each, a gap after each epoch and
    a one-off start-up: predicted after epoch 1 = S + 4 (E + V + G), the start-up not repeated."""
    root = make_powercap(tmp_path / 'powercap')
    S, e, v, G = 1000.0, 100.0, 30.0, 50.0                 # J
    E, V = 8 * e, 2 * v
    spend = FixedEnergy(root, startup=S, per_iter=e, per_val_iter=v, gap=G)
    build_runner(tmp_path / 'run', [_hook(root), spend], epochs=4).train()
    lines = _lines(tmp_path / 'run')
    types = [r['type'] for r in lines]
    # written once epoch 1's validation (and gap) are measured, before epoch 2 trains
    assert types[:5] == ['start', 'epoch', 'val', 'predicted', 'epoch']
    (pred,) = [r for r in lines if r['type'] == 'predicted']
    expected = S + 4 * (E + V + G)
    assert pred['energy_j_it'] == pytest.approx(expected, rel=1e-9)
    assert pred['energy_kwh'] == pytest.approx(_kwh(expected), rel=1e-9)
    assert pred['co2_g'] == pytest.approx(_kwh(expected) * CI, rel=1e-9)
    assert pred['after_units'] == 1 and pred['unit'] == 'epoch' and pred['predict_after'] == 1
    assert pred['startup']['energy_j_it'] == pytest.approx(S)
    assert pred['per_unit']['train_j'] == pytest.approx(E)
    assert pred['per_unit']['val_j'] == pytest.approx(V)
    assert pred['per_unit']['gap_j'] == pytest.approx(G)
    assert pred['remaining'] == dict(train=3, val=3, gap=3)
    assert 'start-up' in pred['method'] and 'validation: mean of 1 measured' in pred['method']
    assert pred['seconds'] > 0
    # the naive "first segment x epochs" would count the start-up 4 times
    first_seg = [r for r in lines if r['type'] == 'epoch'][0]
    assert first_seg['energy_j_it'] == pytest.approx(S + E)

    totals = load_run_totals(str(tmp_path / 'run'))
    assert totals['energy_kwh'] == pytest.approx(_kwh(expected), rel=1e-9)
    summary = json.load(open(tmp_path / 'run' / 'carbon' / 'summary.json'))['prediction']
    assert summary['complete'] and summary['budget_stops'] == []
    (item,) = summary['predictions']
    assert item['energy_kwh'] == pytest.approx(pred['energy_kwh'])
    assert item['error']['energy_kwh'] == pytest.approx(0.0, abs=1e-9)
    assert item['error']['co2_g'] == pytest.approx(0.0, abs=1e-9)
    assert item['error']['seconds'] is not None
    assert summary['actual']['energy_kwh'] == pytest.approx(totals['energy_kwh'])


def test_prediction_after_two_epochs_without_validation(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    S, e, G = 500.0, 40.0, 20.0
    spend = FixedEnergy(root, startup=S, per_iter=e, gap=G)
    build_runner(tmp_path / 'run', [_hook(root, predict_after=2), spend], epochs=4,
                 val=False).train()
    lines = _lines(tmp_path / 'run')
    assert [r['type'] for r in lines][:5] == ['start', 'epoch', 'epoch', 'predicted', 'epoch']
    (pred,) = [r for r in lines if r['type'] == 'predicted']
    assert pred['after_units'] == 2
    assert pred['energy_j_it'] == pytest.approx(S + 4 * (8 * e + G), rel=1e-9)
    assert 'no validation planned' in pred['method']


def test_prediction_of_an_iteration_loop_after_the_first_interval(tmp_path):
    """10 iterations, records every 4, validation after 4, 8 and 10: the last interval is half."""
    root = make_powercap(tmp_path / 'powercap')
    e, v = 100.0, 30.0
    spend = FixedEnergy(root, per_iter=e, per_val_iter=v)
    build_runner(tmp_path / 'run', [_hook(root), spend], iters=10).train()
    lines = _lines(tmp_path / 'run')
    (pred,) = [r for r in lines if r['type'] == 'predicted']
    assert pred['unit'] == 'interval' and pred['after_units'] == 1
    assert pred['units_total'] == pytest.approx(2.5)
    assert pred['energy_j_it'] == pytest.approx(10 * e + 3 * 2 * v, rel=1e-9)
    summary = json.load(open(tmp_path / 'run' / 'carbon' / 'summary.json'))['prediction']
    assert summary['predictions'][0]['error']['energy_kwh'] == pytest.approx(0.0, abs=1e-9)


def _ledger(train, val=(), gap=(), startup=(0.0, 0.0), phase='gap', open_part=None):
    return dict(ok=True, phase=phase, startup=list(startup), train=[list(x) for x in train],
                val=[list(x) for x in val], gap=[list(x) for x in gap], open=open_part)


def test_validation_estimated_before_one_is_measured():
    """No validation measured yet: a validation costs a train epoch x (val/train samples) / 3."""
    ledger = _ledger(train=[(300.0, 3.0)], gap=[(0.0, 0.0)])
    f = forecast_run(ledger, units_total=10, first_unit=0, val_after=range(1, 11),
                     val_train_ratio=0.5, pue=1.0, carbon_intensity=100.0)
    assert f['per_unit']['val_j'] == pytest.approx(300 * 0.5 / 3)
    assert f['energy_j_it'] == pytest.approx(300 * 10 + 50 * 10)
    assert 'ESTIMATED' in f['method']
    assert f['next_unit']['energy_kwh'] == pytest.approx((300 + 50) / 3.6e6)


def test_resumed_attempt_adds_the_earlier_cost():
    ledger = _ledger(train=[(100.0, 1.0)], gap=[(0.0, 0.0)], startup=(7.0, 0.5))
    f = forecast_run(ledger, units_total=5, first_unit=2, val_after=(), val_train_ratio=None,
                     pue=1.0, carbon_intensity=1.0, earlier=dict(energy_j_it=250.0, seconds=9.0))
    assert f['energy_j_it'] == pytest.approx(250 + 7 + 3 * 100)
    assert f['seconds'] == pytest.approx(9 + 0.5 + 3 * 1.0)
    assert f['remaining']['train'] == 2


def test_merge_sums_joules_and_takes_the_slowest_rank():
    a = _ledger(train=[(10.0, 2.0)], startup=(1.0, 1.0), open_part=[1.0, 0.1])
    b = _ledger(train=[(5.0, 3.0)], startup=(0.0, 0.5), open_part=[0.0, 0.2])
    m = merge_ledgers([a, b])
    assert m['train'] == [[15.0, 3.0]] and m['startup'] == [1.0, 1.0]
    assert m['open'] == [1.0, 0.2]
    assert forecast_run(dict(m, ok=False), units_total=2, first_unit=0, val_after=(),
                        val_train_ratio=None, pue=1.0, carbon_intensity=1.0) is None


def test_prediction_error_is_relative():
    err = prediction_error(dict(energy_kwh=1.1, co2_g=2.0, seconds=None),
                           dict(energy_kwh=1.0, co2_g=2.5, seconds=10.0))
    assert err == dict(energy_kwh=pytest.approx(0.1), co2_g=pytest.approx(-0.2), seconds=None)


def test_bad_predict_after_is_rejected():
    from mmkd_green.energy import CarbonFootprintHook
    with pytest.raises(ValueError, match='predict_after'):
        CarbonFootprintHook(predict_after=0)


class _Counter:
    """A stand-in energy source whose cumulative joules the test sets."""
    joules = 0.0

    def read(self):
        return {'cpu': self.joules}


def test_ledger_phases_and_a_validation_inside_an_interval():
    from types import SimpleNamespace

    from mmkd_green.energy.prediction import PhaseLedger
    src = _Counter()
    ledger = PhaseLedger(SimpleNamespace(sources=[src]))
    steps = [('startup', 7), ('train', 10), ('val', 3), ('train', 5), ('gap', 1), ('train', 20),
             ('gap', 0)]
    for phase, spend in steps:
        ledger.mark(phase)
        src.joules += spend
    snap = ledger.snapshot()
    assert snap['startup'][0] == 7
    assert [t[0] for t in snap['train']] == [15, 20]      # 10 + 5: one interval, split by val
    assert [v[0] for v in snap['val']] == [3]
    assert [g[0] for g in snap['gap']] == [1, 0] and snap['open'][0] == 0
    assert snap['phase'] == 'gap' and snap['ok']
