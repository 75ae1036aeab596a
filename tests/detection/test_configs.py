"""Every detection config builds; the real ones keep the official data layout and inits."""
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from det_helpers import ROOT, load_cfg  # noqa: E402

PLAIN = ['configs/ssdlite_mobilenetv2_voc0712.py', 'configs/ssd_vgg16_voc0712.py',
         'configs/toy/ssdlite_student_toy.py', 'configs/toy/ssd_teacher_toy.py']
KD = ['configs/ssd_kd_stochastic.py', 'configs/toy/ssd_kd_stochastic_toy.py']


def anchors(model, size):
    model.eval()
    with torch.no_grad():
        cls, _ = model.bbox_head(model.extract_feat(torch.zeros(1, 3, size, size)))
    return sum(c.shape[-1] * c.shape[-2] * n
               for c, n in zip(cls, model.bbox_head.prior_generator.num_base_priors))


def common_checks(cfg):
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['mmkd_green', 'mmkd_green.detection']
    assert {'type': 'CarbonFootprintHook'} in cfg.custom_hooks
    assert cfg.val_evaluator.type == 'VOCMetric' and cfg.val_evaluator.eval_mode == '11points'


@pytest.mark.parametrize('path', PLAIN)
def test_plain_configs_build(path, mmdet_scope):
    from mmdet.registry import MODELS
    cfg = load_cfg(path)
    common_checks(cfg)
    model = MODELS.build(cfg.model)
    assert type(model.bbox_head).__name__ == 'SafeSSDHead'
    real = 'toy' not in path
    assert anchors(model, 320 if real else 128) == (3234 if real else 340)
    if real:
        inner = cfg.train_dataloader.dataset.dataset.datasets
        assert [d.ann_file for d in inner] == ['VOC2007/ImageSets/Main/trainval.txt',
                                               'VOC2012/ImageSets/Main/trainval.txt']
        assert all(d.data_root == 'data/VOCdevkit/' for d in inner)
        assert cfg.test_dataloader.dataset.ann_file == 'VOC2007/ImageSets/Main/test.txt'
        assert model.bbox_head.num_classes == 20
        url = {'SSDVGGTuple': 'open-mmlab://vgg16_caffe',
               'MobileNetV2': 'open-mmlab://mmdet/mobilenet_v2'}[cfg.model.backbone.type]
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=url)


@pytest.mark.parametrize('path', KD)
def test_kd_configs_build(path, tmp_path, mmdet_scope):
    from mmdet.registry import MODELS
    cfg = load_cfg(path)
    common_checks(cfg)
    assert {'type': 'TemperatureHook'} in cfg.custom_hooks
    assert cfg.temperature == dict(type='UniformTemperature', low=2.0, high=20.0)
    teacher = MODELS.build(load_cfg(cfg.model.teacher_config).model)   # random teacher weights
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    cfg.model.teacher_ckpt = ckpt
    cfg.model.teacher_config = osp.join(ROOT, cfg.model.teacher_config)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'SSDDistiller'
    assert all(k.startswith('student.') for k in model.state_dict())
    assert type(model.kd_loss).__name__ == 'HKDLoss' and model.hard_weight == pytest.approx(0.05)


def test_fixed_tau_config_differs_only_in_tau():
    fixed, stochastic = load_cfg('configs/ssd_kd_fixed.py'), load_cfg('configs/ssd_kd_stochastic.py')
    assert fixed.temperature == dict(type='ConstantTemperature', tau=4.0)
    assert fixed.model == stochastic.model and fixed.custom_hooks == stochastic.custom_hooks
    fixed.merge_from_dict({'temperature.tau': 8.0})        # what --cfg-options does
    assert fixed.temperature.tau == 8.0


def test_mmdet_ssd300_teacher_is_refused_with_both_anchor_counts(tmp_path, mmdet_scope):
    from mmdet.registry import MODELS
    cfg = load_cfg('configs/ssd_kd_stochastic.py')
    teacher = tmp_path / 'ssd300_teacher.py'                 # mmdet's SSD300: 8732 anchors
    teacher.write_text("_base_ = 'mmdet::pascal_voc/ssd300_voc0712.py'\n")
    cfg.model.update(teacher_config=str(teacher), teacher_input_size=300,
                     teacher_ckpt='unused.pth')
    with pytest.raises(ValueError, match=r'teacher has 8732 anchors.*student 3234'):
        MODELS.build(cfg.model)


def test_kd_losses_in_mmdet_registry(mmdet_scope):
    from mmdet.registry import MODELS
    from mmkd_green.losses import CMCLoss, DMLLoss, HKDLoss
    for cls in (HKDLoss, CMCLoss, DMLLoss):   # found through the parent (mmengine) registry
        assert MODELS.get(cls.__name__) is cls
