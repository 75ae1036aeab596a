"""The τ grid's predicted cost from its first runs (a finished run and a budget-stopped probe)."""
import json

import pytest

import mmkd_green  # noqa: F401
from mmkd_green.energy.grid_forecast import (forecast_grid, format_grid_forecast,
                                             grid_budget_verdict, run_cost)

from fixed_energy import FixedEnergy
from rapl_helpers import make_powercap
from energy_helpers import build_runner

EPOCH_J = 36000.0     # 0.01 kWh per epoch at PUE 1: a 4-epoch run costs 0.04 kWh


def _train(work, root, **budget):
    hooks = [dict(type='CarbonFootprintHook', rapl_root=str(root), pue=1.0, carbon_intensity=500.0,
                  count_flops=False, **budget), FixedEnergy(root, per_iter=EPOCH_J / 8)]
    build_runner(work, hooks, epochs=4, val=False).train()
    return str(work)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('grid')
    root = make_powercap(tmp / 'powercap')
    finished = _train(tmp / 'tau_1', root)
    probe = _train(tmp / 'tau_2', root, budget_kwh=0.015)     # stops after epoch 1, predicted 0.04
    return finished, probe


def test_run_cost_measured_or_predicted(runs):
    finished, probe = runs
    a, b = run_cost(finished), run_cost(probe)
    assert a['source'] == 'measured' and a['energy_kwh'] == pytest.approx(0.04)
    assert b['source'] == 'predicted' and b['energy_kwh'] == pytest.approx(0.04)
    assert b['co2_g'] == pytest.approx(20.0)
    summary = run_cost(f'{finished}/carbon/summary.json')
    assert summary['source'] == 'measured' and summary['energy_kwh'] == pytest.approx(0.04)


def test_grid_of_20_vs_one_stochastic_run(runs):
    finished, probe = runs
    f = forecast_grid([finished, probe], planned_runs=20)
    assert f['per_run']['energy_kwh'] == pytest.approx(0.04)
    assert f['grid']['energy_kwh'] == pytest.approx(0.8)
    assert f['grid']['co2_g'] == pytest.approx(400.0)
    assert f['stochastic']['source'] == 'assumed = per grid run'
    assert f['ratio']['energy_kwh'] == pytest.approx(20.0)
    assert [k['source'] for k in f['known']] == ['measured', 'predicted']
    assert '2 known run(s) (1 measured, 1 predicted) + 18 x their mean' in f['method']
    g = forecast_grid([finished], planned_runs=5, stochastic_run=probe)
    assert g['grid']['energy_kwh'] == pytest.approx(0.2)
    assert g['stochastic']['source'] == 'predicted' and g['ratio']['energy_kwh'] == pytest.approx(5)
    assert '20x' in format_grid_forecast(f) and '0.8 kWh' in format_grid_forecast(f)


def test_max_grid_kwh_verdict(runs):
    f = forecast_grid(list(runs), planned_runs=20)
    reason = grid_budget_verdict(f, 0.5)
    assert 'predicted to use 0.8 kWh' in reason and '--max-grid-kwh 0.5' in reason
    assert grid_budget_verdict(f, 1.0) is None and grid_budget_verdict(f, None) is None
    with pytest.raises(ValueError, match='max-grid-kwh'):
        grid_budget_verdict(f, 0)


def test_bad_inputs_name_the_fix(runs, tmp_path):
    with pytest.raises(ValueError, match='planned'):
        forecast_grid(list(runs), planned_runs=1)
    empty = tmp_path / 'started' / 'carbon'
    empty.mkdir(parents=True)
    (empty / 'carbon.jsonl').write_text(json.dumps(dict(type='start', session='x')) + '\n')
    with pytest.raises(ValueError, match='predicted'):
        forecast_grid([str(tmp_path / 'started')], planned_runs=3)
    with pytest.raises(FileNotFoundError, match='CarbonFootprintHook'):
        forecast_grid([str(tmp_path / 'nothing')], planned_runs=3)
