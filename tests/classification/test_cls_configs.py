"""Every shipped classification config builds: model (full size), datasets, metric, hooks, τ."""
import glob
import os.path as osp

import pytest

from mmkd_green import apis
from mmkd_green.registry import DATASETS, HOOKS, METRICS, MODELS, TEMPERATURE_SAMPLERS
from cls_helpers import ROOT, save_teacher, write_cifar, write_tiny_imagenet

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'cifar10', '*.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'cifar100', '*.py')) +
                 glob.glob(osp.join(ROOT, 'configs', 'tinyimagenet', '*.py')))
NUM_CLASSES = {'cifar10': 10, 'cifar100': 100, 'tinyimagenet': 200}


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('data')
    write_cifar(str(base / 'c10' / 'cifar-10-batches-py'), per_batch=4)
    write_cifar(str(base / 'c100' / 'cifar-100-python'), per_batch=4, hundred=True)
    write_tiny_imagenet(str(base / 'tin'), per_class=1)
    return dict(cifar10=str(base / 'c10'), cifar100=str(base / 'c100'),
                tinyimagenet=str(base / 'tin'))


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    base = tmp_path_factory.mktemp('teachers')
    return {ds: save_teacher(dict(type='CifarResNet18', num_classes=n), str(base / f'{ds}.pth'))
            for ds, n in NUM_CLASSES.items()}


def test_config_count():
    assert len(CONFIGS) >= 27


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path, data_roots, teachers):
    ds = osp.basename(osp.dirname(path))
    cfg = apis.load_config(path)
    assert cfg.work_dir == f'work_dirs/{ds}/{osp.splitext(osp.basename(path))[0]}'
    assert cfg.train_cfg.max_epochs == 100 and cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.param_scheduler[0].milestones == [40, 60, 80]
    assert cfg.param_scheduler[0].gamma == 0.2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=128)
    hooks = [h.type for h in cfg.custom_hooks]
    assert 'CarbonFootprintHook' in hooks
    if cfg.model.type == 'KDClassifier':
        assert hooks.count('TemperatureHook') == 1
        sampler = TEMPERATURE_SAMPLERS.build(cfg.temperature)
        assert type(sampler).__name__ == ('ConstantTemperature' if 'fixed' in path
                                          else 'UniformTemperature')
        cfg.model.teacher_ckpt = teachers[ds]
        if cfg.model.kd_loss.type in ('HKDLoss', 'CMCLoss'):
            assert cfg.model.kd_loss.alpha == 0.95
    else:
        assert hooks == ['CarbonFootprintHook']
    for h in cfg.custom_hooks:   # every hook is registered and builds from its config
        assert type(HOOKS.build(dict(h))).__name__ == h.type
    model = MODELS.build(cfg.model)
    assert model.num_classes == NUM_CLASSES[ds]
    for key in ('train_dataloader', 'val_dataloader'):
        dcfg = cfg[key].dataset.copy()
        dcfg.data_root = data_roots[ds]
        dataset = DATASETS.build(dcfg)
        assert 'inputs' in dataset[0]
    METRICS.build(cfg.val_evaluator)


def test_fixed_tau_override():
    path = osp.join(ROOT, 'configs', 'cifar10', 'kd_hkd_fixed_resnet18_mobilenetv2.py')
    cfg = apis.load_config(path, cfg_options=['temperature.tau=8'])
    assert cfg.temperature == dict(type='ConstantTemperature', tau=8)
