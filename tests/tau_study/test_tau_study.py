"""The τ study tool: protocol (validation carved from training, test never used to choose τ),
cache keys, resume after a crash, the report; and the loss-level τ refusal."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from cls_helpers import ROOT, write_cifar
from mmkd_green import tau_study

TINY = {'model.student.widen_factor': 0.25, 'model.student.last_channels': 16,
        'model.teacher.base_channels': 4}


def _study_file(tmp_path, data_root, taus=(2, 8), seeds=(0, 1)):
    cfgs = osp.join(ROOT, 'configs', 'cifar10')
    text = f'''
data_root = {data_root!r}
holdout = dict(fraction=0.25, seed=0)
metric = 'accuracy'
seeds = {list(seeds)!r}
taus = {list(taus)!r}
stochastic = dict(uniform=dict(type='UniformTemperature', low=2.0, high=20.0))
common_cfg_options = {{
    'train_dataloader.batch_size': 8, 'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False, 'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False, 'test_dataloader.batch_size': 16,
    'default_hooks.logger.interval': 1}}
teacher = dict(config={osp.join(cfgs, 'resnet18_teacher.py')!r}, epochs=1,
               cfg_options={{'model.backbone.base_channels': 4,
                            'custom_hooks': [dict(type='CarbonFootprintHook',
                                                  count_flops=False)]}})
arms = dict(hkd=dict(config={osp.join(cfgs, 'kd_hkd_fixed_resnet18_mobilenetv2.py')!r},
                     epochs=1, cfg_options=dict({TINY!r}, **{{'custom_hooks.1.count_flops': False}})))
'''
    path = tmp_path / 'study.py'
    path.write_text(text)
    return str(path)


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('cifar_study')
    write_cifar(osp.join(root, 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    return str(root)


def test_plan_protocol_and_cache_key(tmp_path, cifar_root):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root))
    specs = tau_study.plan(study, str(tmp_path / 'out'))
    assert [s.kind for s in specs].count('grid') == 4 and len(specs) == 1 + 2 * 3
    kd = specs[1]
    tr, va, te = (kd.cfg[k].dataset for k in ('train_dataloader', 'val_dataloader',
                                                 'test_dataloader'))
    assert tr.holdout['part'] == 'train' and va.holdout['part'] == 'holdout'
    assert not tr.get('test_mode') and not va.get('test_mode') and te.test_mode
    assert kd.cfg.model.teacher_ckpt.startswith(specs[0].work_dir)
    # each run has its own schedule (no option object shared between runs)
    assert specs[0].cfg.train_cfg.max_epochs == 1 and specs[0].cfg.param_scheduler is not \
        specs[1].cfg.param_scheduler
    keys = {s.key for s in specs}
    assert len(keys) == len(specs)                       # every run distinct
    again = tau_study.plan(study, str(tmp_path / 'elsewhere'))
    assert [s.key for s in again] == [s.key for s in specs]   # folder is not part of the key
    changed = tau_study.load_study(_study_file(tmp_path, cifar_root, taus=(2, 9)))
    new_keys = [s.key for s in tau_study.plan(changed, str(tmp_path / 'out'))]
    assert new_keys[:2] == [specs[0].key, specs[1].key] and new_keys[2] != specs[2].key


def test_selection_uses_validation_only():
    study = Config(dict(arms=dict(hkd={}), stochastic=dict(u={}), seeds=[0, 1], taus=[2, 8]))
    runs = []
    for s in (0, 1):
        # τ=2 wins on validation, τ=8 on test: the report must pick τ=2
        runs += [dict(kind='grid', arm='hkd', tau=2.0, seed=s, val_metric=0.6, test_metric=0.5,
                      energy_kwh=1.0, energy_kwh_it=0.6, co2_g=2.0, seconds=10.0,
                      train_flops=5.0),
                 dict(kind='grid', arm='hkd', tau=8.0, seed=s, val_metric=0.5, test_metric=0.7,
                      energy_kwh=1.0, energy_kwh_it=0.6, co2_g=2.0, seconds=10.0,
                      train_flops=5.0),
                 dict(kind='stochastic', arm='hkd', sampler='u', seed=s, val_metric=0.55,
                      test_metric=0.52 + 0.02 * s, energy_kwh=0.5, energy_kwh_it=0.3,
                      co2_g=1.0, seconds=5.0, train_flops=2.5)]
    rep = tau_study.summarize(study, runs)['arms']['hkd']
    assert {v['tau'] for v in rep['selected_per_seed'].values()} == {2.0}
    d = rep['stochastic']['u']['diff_vs_selected']
    assert d['values'] == pytest.approx([0.02, 0.04]) and d['mean'] == pytest.approx(0.03)
    half = 12.706205 * np.std([0.02, 0.04], ddof=1) / np.sqrt(2)   # t_{0.975, 1}
    assert d['low'] == pytest.approx(0.03 - half) and d['high'] == pytest.approx(0.03 + half)
    assert rep['grid_cost_per_seed']['energy_kwh']['mean'] == pytest.approx(2.0)
    assert rep['paper_grid_cost']['energy_kwh'] == pytest.approx(20.0)
    assert rep['ratios']['u']['grid_run']['energy_kwh'] == pytest.approx(4.0)
    assert rep['ratios']['u']['paper_grid']['energy_kwh'] == pytest.approx(40.0)


def test_study_end_to_end_resume_and_report(tmp_path, cifar_root):
    path = _study_file(tmp_path, cifar_root, taus=(2, 8), seeds=(0,))
    out = str(tmp_path / 'out')
    study = tau_study.load_study(path)
    specs = tau_study.plan(study, out)
    # a crashed run left a folder without a result: it is set aside (kept) and redone (the
    # teacher: the KD runs' folders are named after the teacher's checkpoint, not known yet)
    crashed = specs[0].work_dir
    os.makedirs(crashed)
    open(osp.join(crashed, 'partial.log'), 'w').write('killed')
    report = tau_study.run_study(study, out, progress=False)
    assert osp.isfile(osp.join(crashed + '.crashed-1', 'partial.log'))
    results = report['runs']
    assert len(results) == 4 and not any(r['cached'] for r in results)
    for r in results:
        assert r['finished'] and 0 <= r["test_metric"] <= 100 and r['energy_kwh'] > 0
        if r['kind'] == 'grid':   # the run really trained with its τ
            start = json.loads(open(osp.join(tau_study.plan(study, out)[
                [s.label for s in specs].index(r['label'])].work_dir, 'carbon',
                'carbon.jsonl')).readline())
            assert start['run_info']['sampler']['tau'] == r['tau']
    for ext in ('md', 'csv', 'json', 'png_accuracy', 'png_energy'):
        assert osp.getsize(report['tables'][ext]) > 0
    md = open(report['tables']['md']).read()
    assert 'τ chosen on validation' in md and 'paper grid (20 runs' in md
    # teacher-logit sharing, computed from the FLOPs of the real KD model on a real batch
    share = report['arms']['hkd']['cost']['teacher_share']
    assert share['batch'] > 0 and share['teacher_forward_flops'] > 0
    assert 0 < share['flop_share'] < 1 and 0 < share['time_share'] < 1
    sharing = report['arms']['hkd']['cost']['samplers']['uniform']['grid']['with_teacher_sharing']
    plain = report['arms']['hkd']['cost']['samplers']['uniform']['grid']
    assert sharing['student_only_ratio']['seconds'] == pytest.approx(
        plain['student_only_ratio']['seconds'] * (2 - share['time_share']) / 2)
    assert 'with teacher-logit sharing (computed)' in md
    assert open(report['tables']['csv']).read().count('\n') == 5
    # the grid's prediction from its finished runs (energy.grid_forecast), and the refusal
    grid_runs = [r for r in results if r['kind'] == 'grid']
    forecast = tau_study.predicted_grid(study, results)
    assert forecast['planned_runs'] == 2
    assert forecast['per_run']['energy_kwh'] == pytest.approx(
        np.mean([r['energy_kwh'] for r in grid_runs]), rel=1e-6)
    assert forecast['paper_grid']['energy_kwh'] == pytest.approx(
        20 * forecast['per_run']['energy_kwh'])
    assert '2-run τ grid' in tau_study.predicted_cost_text(forecast)
    tau_study.check_grid_budget(forecast, 10 * forecast['grid']['energy_kwh'])   # fits
    with pytest.raises(RuntimeError, match='max-grid-kwh'):
        tau_study.check_grid_budget(forecast, 0.5 * forecast['grid']['energy_kwh'])
    # rerun: everything cached, nothing retrained
    specs = tau_study.plan(study, out)
    mtimes = [osp.getmtime(osp.join(s.work_dir, tau_study.RESULT_FILE)) for s in specs]
    again = tau_study.run_study(study, out, progress=False)
    assert all(r['cached'] for r in again['runs'])
    assert mtimes == [osp.getmtime(osp.join(s.work_dir, tau_study.RESULT_FILE)) for s in specs]


def test_loss_level_tau_is_refused_and_the_loss_uses_tau_i(tmp_path, cifar_root):
    """A loss-level τ next to the run's sampler is refused; without it the loss uses τ(i)."""
    from mmengine.hooks import Hook

    from mmkd_green import apis
    from mmkd_green.registry import HOOKS
    from mmkd_green.temperature import UniformTemperature
    from cls_helpers import save_teacher

    teacher = save_teacher(dict(type='CifarResNet18', num_classes=10, base_channels=4),
                           str(tmp_path / 't.pth'))
    path = osp.join(ROOT, 'configs', 'cifar10', 'kd_hkd_stochastic_resnet18_mobilenetv2.py')
    opts = dict(TINY, **{'model.teacher_ckpt': teacher, 'train_dataloader.batch_size': 8,
                         'train_dataloader.num_workers': 0,
                         'train_dataloader.persistent_workers': False,
                         'val_dataloader.num_workers': 0,
                         'val_dataloader.persistent_workers': False,
                         'train_dataloader.dataset.indices': 32, 'val_dataloader.dataset.indices': 8,
                         'default_hooks.logger.interval': 1})

    def cfg(work, **more):
        c = apis.load_config(path, work_dir=str(tmp_path / work), cfg_options=dict(opts, **more))
        apis.point_data_root(c, cifar_root)
        apis.set_epochs(c, 1)
        return c

    with pytest.raises(ValueError, match='ConstantTemperature'):
        apis.train(cfg('refused', **{'model.kd_loss.tau': 8.0}))

    seen = []

    @HOOKS.register_module(force=True)
    class _ReadLossTau(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append((runner.iter, float(runner.model.kd_loss.last_tau)))

    c = cfg('used', custom_hooks=[dict(type='TemperatureHook'), dict(type='_ReadLossTau')])
    apis.train(c)
    sampler = UniformTemperature(2.0, 20.0, seed=0)
    assert len(seen) == 4
    assert [t for _, t in seen] == pytest.approx([sampler(i) for i, _ in seen], rel=1e-6)


def test_sharing_estimate_left_out_not_fatal_without_a_teacher(tmp_path, cifar_root):
    """No teacher checkpoint yet (e.g. --report-only after it was deleted): the estimate is left
    out with a message naming the cause, and the report can still be written."""
    study = tau_study.load_study(_study_file(tmp_path, cifar_root, taus=(2,), seeds=(0,)))
    logged = []
    shares = tau_study.measure_teacher_shares(tau_study.plan(study, str(tmp_path / 'out')),
                                              log=logged.append)
    assert shares == {'hkd': None}
    assert len(logged) == 1 and 'left out' in logged[0] and 'checkpoint' in logged[0]
