"""tools/tune_temperature.py: a 2-τ grid end to end, then a rerun that redoes nothing."""
import importlib.util
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config

from cls_helpers import ROOT, save_teacher, shrink


def _tool():
    spec = importlib.util.spec_from_file_location(
        'tune_temperature', osp.join(ROOT, 'tools', 'tune_temperature.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _small(name, cifar10_root, tmp_path, teacher):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cifar10', name))
    cfg = shrink(cfg, cifar10_root, str(tmp_path / 'unused'), teacher_ckpt=teacher,
                 train_indices=8)
    path = str(tmp_path / name)
    cfg.dump(path)
    return path


def test_grid_end_to_end_and_resume(tmp_path, cifar10_root):
    teacher = save_teacher(dict(type='CifarResNet18', num_classes=10, base_channels=4),
                           str(tmp_path / 'teacher.pth'))
    fixed = _small('kd_hkd_fixed_resnet18_mobilenetv2.py', cifar10_root, tmp_path, teacher)
    stoch = _small('kd_hkd_stochastic_resnet18_mobilenetv2.py', cifar10_root, tmp_path, teacher)
    out = str(tmp_path / 'grid')
    tool = _tool()
    argv = [fixed, '--taus', '2', '5', '--out', out, '--stochastic-config', stoch, '--in-process']
    summary = tool.main(argv)
    assert [r['tau'] for r in summary['grid']] == [2.0, 5.0]
    assert not any(r['skipped'] for r in summary['grid'])
    for tau in ('tau_2', 'tau_5'):
        recorded = json.load(open(osp.join(out, tau, 'tau_result.json')))
        assert recorded['cfg_options'][-1] == f'temperature.tau={float(tau[4:])!r}'
        # the run really used its τ
        start = json.loads(open(osp.join(out, tau, 'carbon', 'carbon.jsonl')).readline())
        assert start['run_info']['sampler']['tau'] == float(tau[4:])
    total = summary['grid_total']['energy_kwh']
    assert total == pytest.approx(sum(r['energy_kwh'] for r in summary['grid'])) and total > 0
    assert summary['ratio']['energy_kwh'] == pytest.approx(
        total / summary['stochastic']['energy_kwh'])
    assert summary['best_tau'] in (2.0, 5.0)
    md = open(osp.join(out, 'tau_grid.md')).read()
    assert 'grid total (2 runs)' in md and 'ratio grid / stochastic' in md and '(best)' in md
    assert open(osp.join(out, 'tau_grid.csv')).read().count('\n') == 6   # header + 5 rows

    mtimes = {d: os.path.getmtime(osp.join(out, d, 'carbon', 'carbon.jsonl'))
              for d in ('tau_2', 'tau_5', 'stochastic')}
    again = tool.main(argv)
    assert all(r['skipped'] for r in again['grid']) and again['stochastic']['skipped']
    assert {d: os.path.getmtime(osp.join(out, d, 'carbon', 'carbon.jsonl'))
            for d in mtimes} == mtimes
    assert again['grid_total'] == summary['grid_total']


def test_grid_refuses_stochastic_config(tmp_path):
    from mmkd_green.classification.temperature_grid import run_grid
    cfg = osp.join(ROOT, 'configs', 'cifar10', 'kd_hkd_stochastic_resnet18_mobilenetv2.py')
    with pytest.raises(ValueError, match='ConstantTemperature'):
        run_grid(cfg, [1.0], str(tmp_path))
