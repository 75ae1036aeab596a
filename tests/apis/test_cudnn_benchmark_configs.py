"""Configs with fixed input shapes (CIFAR, TinyImageNet, data-free CIFAR KD) turn on cuDNN's
autotuner: mmengine's ``env_cfg.cudnn_benchmark`` as the loaded config has it."""
import glob
import os.path as osp

import pytest

from mmkd_green import apis

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXED_SHAPE_CONFIGS = sorted(
    p for folder in ('cifar10', 'cifar100', 'tinyimagenet', 'dfkd')
    for p in glob.glob(osp.join(ROOT, 'configs', folder, '*.py')))


def test_every_fixed_shape_folder_has_configs():
    folders = {osp.basename(osp.dirname(p)) for p in FIXED_SHAPE_CONFIGS}
    assert folders == {'cifar10', 'cifar100', 'tinyimagenet', 'dfkd'}
    assert len(FIXED_SHAPE_CONFIGS) >= 44


@pytest.mark.parametrize('path', FIXED_SHAPE_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_loaded_config_has_cudnn_benchmark_on(path, tmp_path):
    cfg = apis.load_config(path, work_dir=str(tmp_path))
    assert cfg.env_cfg.cudnn_benchmark is True
    # the autotuner is not overridden by a deterministic setting (which turns it off)
    assert not cfg.get('randomness', {}).get('deterministic', False)
