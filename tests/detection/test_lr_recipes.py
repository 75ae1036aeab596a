"""Learning rates: one GPU gets the lr of the batch it uses; N GPUs (dist_train.sh) get mmdet's."""
import os.path as osp

import pytest
from mmengine.config import Config

from det_helpers import ROOT


def mmdet_cfg(rel):
    import importlib.util
    spec = importlib.util.find_spec('mmdet')
    if spec is None:
        pytest.skip('mmdet is not installed')
    path = osp.join(osp.dirname(spec.origin), '.mim', 'configs', rel)
    return Config.fromfile(path, import_custom_modules=False)


def ours(rel):
    return Config.fromfile(osp.join(ROOT, rel), import_custom_modules=False)


def scaled_lr(cfg, gpus):
    """mmengine's Runner.scale_lr: lr x (world size x batch_size) / base_batch_size."""
    lr = cfg.optim_wrapper.optimizer.lr
    if not cfg.auto_scale_lr.get('enable', False):
        return lr
    return lr * gpus * cfg.train_dataloader.batch_size / cfg.auto_scale_lr.base_batch_size


@pytest.mark.parametrize('path,recipe,recipe_gpus', [
    ('configs/ssdlite_mobilenetv2_voc0712.py', 'ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
     8),
    ('configs/ssd_kd_stochastic.py', 'ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', 8),
    ('configs/ssd_kd_stochastic_70e.py', 'ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', 8),
    ('configs/ssd_vgg16_voc0712.py', 'pascal_voc/ssd300_voc0712.py', 8),
])
def test_lr_per_image_matches_the_mmdet_recipe(path, recipe, recipe_gpus):
    cfg, ref = ours(path), mmdet_cfg(recipe)
    ref_total = ref.auto_scale_lr.base_batch_size
    assert ref_total == recipe_gpus * ref.train_dataloader.batch_size
    per_image = ref.optim_wrapper.optimizer.lr / ref_total
    bs = cfg.train_dataloader.batch_size
    # one GPU: the lr in the file is for the batch the file uses, and auto-scaling leaves it alone
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=bs)
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(per_image * bs)
    assert scaled_lr(cfg, 1) == pytest.approx(per_image * bs)
    # tools/dist_train.sh CONFIG 8: mmdet's 8-GPU lr
    assert scaled_lr(cfg, recipe_gpus) == pytest.approx(ref.optim_wrapper.optimizer.lr)


def test_paper_schedule_is_70_passes():
    cfg = ours('configs/ssd_kd_stochastic_70e.py')
    assert cfg.train_cfg.max_epochs == 70 and cfg.train_dataloader.dataset.times == 1
    cosine = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR'][0]
    assert cosine.T_max == cosine.end == 70
    assert ours('configs/ssd_kd_fixed_70e.py').temperature.type == 'ConstantTemperature'
    default = ours('configs/ssd_kd_stochastic.py')
    assert default.train_cfg.max_epochs * default.train_dataloader.dataset.times == 240


def test_toy_configs_keep_their_tuned_lr():
    cfg = ours('configs/toy/ssd_kd_stochastic_toy.py')
    assert not cfg.auto_scale_lr.enable and scaled_lr(cfg, 1) == 3e-3
