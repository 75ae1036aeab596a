"""Carbon plots: the x axis is the epoch, and the cumulative plot shows the prediction dashed."""
import json
import os.path as osp

import pytest

import mmkd_green  # noqa: F401
from mmkd_green.energy.plots import plot_cumulative_co2, plot_energy_per_epoch

from fixed_energy import FixedEnergy
from rapl_helpers import make_powercap
from energy_helpers import build_runner


def test_epoch_axis_and_dashed_prediction(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    hooks = [dict(type='CarbonFootprintHook', rapl_root=str(root), pue=1.0, carbon_intensity=500.0,
                  count_flops=False), FixedEnergy(root, per_iter=4500.0)]   # 5 g CO2 per epoch
    build_runner(tmp_path / 'run', hooks, epochs=3, val=False).train()
    records = [json.loads(line) for line in open(tmp_path / 'run' / 'carbon' / 'carbon.jsonl')]

    drawn = plot_energy_per_epoch([('run', records)], str(tmp_path / 'energy.png'))
    assert drawn['xlabel'] == 'epoch' and osp.getsize(tmp_path / 'energy.png') > 0
    assert drawn['lines'][0]['x'] == [1, 2, 3]

    drawn = plot_cumulative_co2([('run', records), ('run2', records)], str(tmp_path / 'co2.png'),
                                grid_names=('run', 'run2'))
    assert drawn['xlabel'] == 'epoch' and osp.getsize(tmp_path / 'co2.png') > 0
    run, pred = drawn['lines'][0], drawn['lines'][1]
    assert run['x'] == [0, 1, 2, 3] and run['y'] == pytest.approx([0, 5, 10, 15])
    assert pred['linestyle'] == '--' and pred['label'] == 'run: predicted after epoch 1'
    assert pred['x'] == [1, 3] and pred['y'] == pytest.approx([5, 15])
    chained = drawn['lines'][-1]
    assert chained['label'] == 'grid search (runs chained)'
    assert chained['x'] == [0, 1, 2, 3, 4, 5, 6] and chained['y'][-1] == pytest.approx(30)
