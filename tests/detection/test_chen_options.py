"""The detection options of the paper's KD code (Chen et al. 2017): background-weighted soft CE
and the integer τ draw, selectable in the SSD configs and working in a real distiller run."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from det_helpers import ROOT


def test_chen_config_selects_both_options():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ssd_kd_chen2017.py'),
                          import_custom_modules=False)
    assert cfg.temperature == dict(type='UniformTemperature', low=2.0, high=20.0, discrete=True)
    assert cfg.model.kd_loss.type == 'BgWeightedSoftCELoss' and cfg.model.kd_loss.bg_weight == 1.5
    assert cfg.model.type == 'SSDDistiller'


def test_distiller_trains_with_soft_ce_and_integer_tau(toy_voc, toy_teacher_ckpt, tmp_path):
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401
    from mmengine.runner import Runner

    from det_helpers import load_cfg
    cfg = load_cfg('configs/toy/ssd_kd_stochastic_toy.py', toy_voc, str(tmp_path / 'kd'),
                   epochs=1, teacher_config=osp.join(ROOT, 'configs/toy/ssd_teacher_toy.py'),
                   teacher_ckpt=toy_teacher_ckpt,
                   kd_loss=dict(type='BgWeightedSoftCELoss', alpha=0.5, bg_weight=1.5))
    cfg.temperature.discrete = True
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'CarbonFootprintHook']
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.randomness = dict(seed=5)
    runner = Runner.from_cfg(cfg)
    assert runner.model.kd_loss.hard_label_weight == 0.5
    runner.train()
    taus = runner.message_hub.get_scalar('train/tau').data[0]
    losses = runner.message_hub.get_scalar('train/loss_kd').data[0]
    assert len(taus) == 3 and all(float(t).is_integer() and 2 <= t <= 20 for t in taus)
    assert list(taus) == [np.random.default_rng([5, i]).integers(2, 20, endpoint=True)
                          for i in range(3)]
    assert np.isfinite(losses).all() and (losses > 0).all()
