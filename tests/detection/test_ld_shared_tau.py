"""mmdet's own KD detector (LD) on the shared τ: configs/ld_kd_stochastic.py at toy size.

A real mmengine run of mmdet's KnowledgeDistillationSingleStageDetector + LDHead (tiny ResNet/FPN,
random GFL teacher, generated VOC images); after every iteration i the wrapped mmdet loss's ``T``
must be τ(i) = default_rng([seed, i]).uniform(2, 20).
"""
import copy

import numpy as np
import pytest

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmengine.hooks import Hook  # noqa: E402

from det_helpers import TOY_CLASSES, load_cfg  # noqa: E402
from mmkd_green import apis  # noqa: E402
from mmkd_green.utils.remote_checkpoints import find_checkpoint_urls  # noqa: E402

SEED = 3


class RecordT(Hook):
    priority = 'LOW'

    def __init__(self):
        self.seen = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        runner.model.bbox_head.loss_ld.last_tau = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        wrapper = runner.model.bbox_head.loss_ld
        self.seen[runner.iter] = (wrapper.last_tau, wrapper.loss.T,
                                  float(outputs['loss_ld']))


def tiny_ld_cfg(repo_root, data_root, work_dir, extra=()):
    cfg = apis.load_config(f'{repo_root}/configs/ld_kd_stochastic.py', work_dir=str(work_dir),
                           cfg_options=list(extra))
    tiny = dict(
        backbone=dict(depth=18, base_channels=8, frozen_stages=-1, norm_eval=False,
                      init_cfg=None),
        neck=dict(in_channels=[8, 16, 32, 64], out_channels=32),
        bbox_head=dict(num_classes=len(TOY_CLASSES), in_channels=32, feat_channels=32,
                       stacked_convs=1))
    for key, value in tiny.items():
        cfg.model[key].update(value)
    teacher = copy.deepcopy(cfg.model.to_dict())
    for key in ('teacher_config', 'teacher_ckpt'):
        teacher.pop(key)
    teacher['type'] = 'GFL'
    teacher['bbox_head']['type'] = 'GFLHead'
    teacher['bbox_head'].pop('loss_ld')
    cfg.model.teacher_config = dict(model=teacher)
    cfg.model.teacher_ckpt = None                       # random teacher
    toy = load_cfg('configs/toy/ssdlite_student_toy.py', data_root, batch_size=4)
    cfg.train_dataloader = toy.train_dataloader
    cfg.train_dataloader.dataset.pipeline[2].scale = (96, 96)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=SEED)
    cfg.log_level = 'WARNING'
    return cfg


def test_config_is_mmdets_ld_with_the_wrapper(repo_root):
    cfg = apis.load_config(f'{repo_root}/configs/ld_kd_stochastic.py')
    assert cfg.model.type == 'KnowledgeDistillationSingleStageDetector'
    assert cfg.model.bbox_head.type == 'LDHead'
    assert cfg.model.bbox_head.loss_ld == dict(
        type='SharedTemperatureLoss',
        loss=dict(type='KnowledgeDistillationKLDivLoss', loss_weight=0.25, T=10))
    assert [h['type'] for h in cfg.custom_hooks] == ['TemperatureHook', 'CarbonFootprintHook']
    # offline clusters: the teacher and ImageNet-init URLs are checked before a run
    assert dict(find_checkpoint_urls(cfg))['model.backbone.init_cfg.checkpoint'] == \
        'torchvision://resnet18'
    assert dict(find_checkpoint_urls(cfg))['model.teacher_ckpt'].startswith('https://')


@pytest.mark.parametrize('discrete', [False, True])
def test_wrapped_mmdet_loss_uses_tau_of_each_iteration(repo_root, toy_voc, tmp_path, discrete):
    cfg = tiny_ld_cfg(repo_root, toy_voc, tmp_path / 'ld',
                      [f'temperature.discrete={discrete}'])
    runner = apis.build_runner(cfg)
    record = RecordT()
    runner.register_hook(record)
    runner.train()
    assert sorted(record.seen) == list(range(6))    # 24 images, batch 4, 1 epoch
    for i, (last, t_attr, loss_ld) in record.seen.items():
        rng = np.random.default_rng([SEED, i])
        expected = float(rng.integers(2, 20, endpoint=True)) if discrete else rng.uniform(2, 20)
        assert last == pytest.approx(expected) and t_attr == last, (i, last, expected)
        assert np.isfinite(loss_ld)
    if discrete:
        assert all(float(last).is_integer() for last, _, _ in record.seen.values())
    assert runner.message_hub.get_scalar('train/tau').current() == pytest.approx(record.seen[5][0])
