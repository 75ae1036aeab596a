"""Shared fixtures of the detection tests: a generated VOC set and a random toy teacher."""
import pytest

from det_helpers import load_cfg


@pytest.fixture(scope='session')
def toy_voc(tmp_path_factory):
    """24 trainval + 12 test generated images (VOC2007 layout); returns the data root."""
    from mmkd_green.detection.toy_voc import make_toy_voc
    root = tmp_path_factory.mktemp('toy_voc')
    make_toy_voc(str(root), num_trainval=24, num_test=12, seed=1)
    return str(root) + '/'


@pytest.fixture(scope='session')
def toy_teacher_ckpt(tmp_path_factory):
    """A randomly initialised toy teacher saved as an mmengine-style checkpoint."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = load_cfg('configs/toy/ssd_teacher_toy.py')
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model)
    teacher.init_weights()
    path = str(tmp_path_factory.mktemp('teacher') / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), path)
    return path


@pytest.fixture
def mmdet_scope():
    import mmkd_green.detection  # noqa: F401  (registers)
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
