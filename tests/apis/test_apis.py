"""``mmkd_green.apis``: config loading with overrides, schedules that follow the epoch count,
data roots, and the ``python -m mmkd_green.apis`` entry point on a real toy KD run.
(``apis.train``/``apis.build_runner``/``apis.test`` run in the pipeline tests.)"""
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from mmkd_green import apis
from tests.fixtures import limits

TOY = osp.join('tests', 'fixtures', 'toy_kd_config.py')


def schedule_cfg(max_epochs=20, val_interval=None, ckpt_interval=None, schedulers=()):
    train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
    if val_interval is not None:
        train_cfg['val_interval'] = val_interval
    return Config(dict(train_cfg=train_cfg, param_scheduler=list(schedulers),
                       default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                                          interval=ckpt_interval or 1))))


def test_parse_cfg_options_is_mmengines_key_value_syntax():
    assert apis.parse_cfg_options(['a.b=1', 'c=[1,2]', 'd=x', 'e=(1,2)', 'f=True']) == \
        {'a.b': 1, 'c': [1, 2], 'd': 'x', 'e': (1, 2), 'f': True}
    assert apis.parse_cfg_options(None) == {} and apis.parse_cfg_options({'a': 1}) == {'a': 1}
    assert apis.parse_cfg_options('temperature.tau=8') == {'temperature.tau': 8}
    with pytest.raises(ValueError, match='key=value'):
        apis.parse_cfg_options(['temperature.tau', '8'])


def test_load_config_overrides_work_dir_resume_amp(repo_root, tmp_path):
    path = osp.join(repo_root, TOY)
    cfg = apis.load_config(path, cfg_options=['temperature.low=4', 'train_cfg.max_epochs=2'])
    assert cfg.temperature == dict(type='UniformTemperature', low=4, high=20.0)
    assert cfg.train_cfg.max_epochs == 2 and cfg.launcher == 'none'
    assert cfg.work_dir == osp.join('./work_dirs', 'toy_kd_config')
    cfg = apis.load_config(path, work_dir=tmp_path, resume=True, amp=True)
    assert cfg.work_dir == str(tmp_path) and cfg.resume is True and cfg.load_from is None
    import torch
    if torch.cuda.is_available():   # bf16 without a loss scale, or fp16 with one (older GPUs)
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.loss_scale in ('dynamic', dict(enabled=False))
    else:   # bf16 autocast on a CPU
        assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    cfg = apis.load_config(path, resume='ckpt.pth')
    assert cfg.resume is True and cfg.load_from == 'ckpt.pth'
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        apis.load_config(str(tmp_path / 'no_such.py'))
    with pytest.raises(ValueError, match='launcher'):
        apis.load_config(path, launcher='torchrun')
    with pytest.raises(KeyError, match='base_batch_size'):
        apis.load_config(path, auto_scale_lr=True)


def test_load_config_refuses_qat_with_amp(repo_root):
    """QAT + --amp is refused at config time, naming the fix; the crash it prevents is real."""
    path = osp.join(repo_root, 'configs', 'cifar10', 'qat_mobilenetv2_student.py')
    with pytest.raises(ValueError, match='QATClassifier.*Fix: train QAT without --amp'):
        apis.load_config(path, amp=True)
    with pytest.raises(ValueError, match='without --amp'):      # autocast wrapper in the config
        apis.load_config(path, cfg_options=['optim_wrapper.type=AmpOptimWrapper'])
    assert apis.load_config(path).model.type == 'QATClassifier'   # fp32 QAT still loads
    # what the refusal prevents: fake quantisation under (CPU bf16) autocast fails at once
    import torch
    from mmkd_green.classification.models.qat_classifier import prepare_qat
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
    qat = prepare_qat(net, input_size=(8, 8))
    qat(torch.randn(2, 3, 8, 8))                                   # fp32: fine
    with pytest.raises(RuntimeError, match='Float'), torch.autocast('cpu', dtype=torch.bfloat16):
        qat(torch.randn(2, 3, 8, 8))


def test_set_epochs_finds_schedulers_by_type_not_position():
    cfg = schedule_cfg(20, val_interval=20, ckpt_interval=20, schedulers=[
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
        dict(type='CosineAnnealingLR', begin=0, T_max=20, end=20, by_epoch=True)])
    apis.set_epochs(cfg, 3)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 30)              # iteration-based: untouched
    assert (cosine.T_max, cosine.end) == (3, 3)
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=3, val_interval=3)  # "at the end"
    assert cfg.default_hooks.checkpoint.interval == 3
    # the same schedulers in the other order give the same result
    cfg = schedule_cfg(20, schedulers=[
        dict(type='CosineAnnealingLR', begin=5, T_max=15, end=20, by_epoch=True),
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30)])
    apis.set_epochs(cfg, 10)
    assert (cfg.param_scheduler[0].T_max, cfg.param_scheduler[0].end) == (5, 10)
    assert cfg.param_scheduler[1].end == 30


def test_set_epochs_scales_milestones_and_clips_intervals():
    cfg = schedule_cfg(100, val_interval=1, ckpt_interval=10, schedulers=[
        dict(type='MultiStepLR', milestones=[40, 60, 80], gamma=0.2, by_epoch=True),
        dict(type='ConstantLR', factor=0.5, begin=0, end=90, by_epoch=True)])
    apis.set_epochs(cfg, 5)
    assert cfg.param_scheduler[0].milestones == [2, 3, 4]
    assert cfg.param_scheduler[1].end == 5
    assert cfg.train_cfg.val_interval == 1 and cfg.default_hooks.checkpoint.interval == 5
    apis.set_epochs(cfg, 50)          # longer: milestones scale up; "at the end" stays so
    assert cfg.param_scheduler[0].milestones == [20, 30, 40]
    assert cfg.train_cfg.val_interval == 1 and cfg.default_hooks.checkpoint.interval == 50
    with pytest.raises(ValueError, match='>= 1'):
        apis.set_epochs(cfg, 0)
    iters = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=100)))
    with pytest.raises(ValueError, match='max_iters'):
        apis.set_epochs(iters, 2)


def test_point_data_root_reaches_wrapped_datasets():
    cfg = Config(dict(
        train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=[dict(type='A', data_root='x'), dict(type='B')]))),
        val_dataloader=dict(dataset=dict(type='C', data_root='y')),
        test_dataloader=None))
    apis.point_data_root(cfg, 'data/new')
    inner = cfg.train_dataloader.dataset.dataset.datasets
    assert [d.data_root for d in inner] == ['data/new', 'data/new']
    assert cfg.val_dataloader.dataset.data_root == 'data/new' and cfg.test_dataloader is None


def test_module_cli_trains(repo_root, tmp_path):
    """``python -m mmkd_green.apis train``: a real toy KD run in a fresh interpreter."""
    run = [sys.executable, '-m', 'mmkd_green.apis']
    opts = ['--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.dataset.n=32']
    proc = limits.run(run + ['train', TOY, '--work-dir', str(tmp_path), *opts],
                      cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    proc = limits.run(run + ['nonsense'], cwd=repo_root, capture_output=True, text=True)
    assert proc.returncode != 0 and 'train|test' in proc.stderr
