"""SSDDistiller: real KD iterations on generated data, teacher isolation, τ handling, checks."""
import copy
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmengine.runner import Runner  # noqa: E402

from mmkd_green import apis  # noqa: E402
from mmkd_green.temperature import publish_temperature  # noqa: E402

from det_helpers import ROOT, load_cfg  # noqa: E402

TOY_TEACHER = osp.join(ROOT, 'configs', 'toy', 'ssd_teacher_toy.py')


def kd_cfg(data_root, teacher_ckpt, work_dir=None, epochs=None, batch_size=8, **model):
    model.setdefault('teacher_config', TOY_TEACHER)
    cfg = load_cfg('configs/toy/ssd_kd_stochastic_toy.py', data_root, work_dir, epochs,
                   batch_size, teacher_ckpt=teacher_ckpt, **model)
    return cfg


def build(cfg):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


@pytest.fixture(scope='module')
def kd(toy_voc, toy_teacher_ckpt):
    """One toy distiller (random teacher) and one real training batch of 8 generated images."""
    import mmkd_green.detection  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = kd_cfg(toy_voc, toy_teacher_ckpt)
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.sampler.shuffle = False
    return build(cfg), next(iter(Runner.build_dataloader(loader)))


def kd_loss(model, data, tau):
    publish_temperature(tau)
    batch = model.data_preprocessor(copy.deepcopy(data), True)
    return model.loss(batch['inputs'], batch['data_samples'])


def test_runner_trains_validates_and_saves_student_only(toy_voc, toy_teacher_ckpt, tmp_path,
                                                        mmdet_scope):
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint
    cfg = kd_cfg(toy_voc, toy_teacher_ckpt, tmp_path / 'kd', epochs=1)
    runner = apis.build_runner(cfg)
    teacher_before = copy.deepcopy(runner.model.teacher.state_dict())
    runner.train()                                    # 3 KD iterations + validation
    model = runner.model
    model.train()                                     # what the train loop calls
    assert not model.teacher.training and model.student.training
    for k, v in model.teacher.state_dict().items():  # teacher untouched, even BN statistics
        assert torch.equal(v, teacher_before[k]), k
    assert runner.message_hub.get_scalar('train/tau') is not None
    ckpt = torch.load(tmp_path / 'kd' / 'epoch_1.pth', map_location='cpu', weights_only=True)
    keys = list(ckpt['state_dict'])
    n_student = len(model.student.state_dict())
    assert len(keys) == n_student and all(k.startswith('student.') for k in keys)
    opt_params = sum(len(g['params']) for g in runner.optim_wrapper.optimizer.param_groups)
    assert opt_params == len(list(model.student.parameters()))
    kd_val = runner.val_loop.run()['pascal_voc/mAP']     # the distiller predicts with the student

    # export -> loads strictly into the student built through plain mmdet (mmdet's SSDHead)
    from mmkd_green.detection.export import export_student
    out = str(tmp_path / 'student.pth')
    assert export_student(str(tmp_path / 'kd' / 'epoch_1.pth'), out)['num_tensors'] == n_student
    plain_cfg = load_cfg('configs/toy/ssdlite_student_toy.py').model
    plain_cfg.bbox_head.type = 'SSDHead'
    plain = MODELS.build(plain_cfg)
    load_checkpoint(plain, out, map_location='cpu', strict=True)
    plain.eval(), model.eval()
    x = torch.rand(2, 3, 128, 128)
    for a, b in zip(plain._forward(x)[0], model.student._forward(x)[0]):
        assert torch.allclose(a, b)

    # tools/test.py STUDENT_CONFIG EXPORTED.pth gives the KD run's validation mAP
    tcfg = load_cfg('configs/toy/ssdlite_student_toy.py', toy_voc, tmp_path / 'test',
                    batch_size=8)
    tcfg.custom_hooks = []
    assert apis.test(tcfg, out)['pascal_voc/mAP'] == pytest.approx(kd_val)


def test_gradients_reach_the_student_only(kd):
    model, data = kd
    model.zero_grad()
    losses = kd_loss(model, data, 8.0)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_kd'}
    total, _ = model.parse_losses(losses)
    total.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    head_grads = [p.grad for p in model.student.bbox_head.parameters()]
    assert all(g is not None for g in head_grads) and any(g.abs().sum() > 0 for g in head_grads)
    assert all(n.startswith('student.') for n, _ in model.named_parameters())
    model.zero_grad()


def test_tau_shared_fixed_and_per_sample(kd):
    model, data = kd
    b = len(data['inputs'])
    with torch.no_grad():
        l2, l20 = (kd_loss(model, data, t)['loss_kd'] for t in (2.0, 20.0))
        per_sample = kd_loss(model, data, torch.full((b, ), 20.0))['loss_kd']
        mixed = kd_loss(model, data, torch.tensor([2.0] * (b // 2) + [20.0] * (b - b // 2)))
        assert not torch.allclose(l2, l20)
        assert torch.allclose(per_sample, l20, rtol=1e-5)
        assert not torch.allclose(mixed['loss_kd'], l20)
        with pytest.raises(ValueError, match='per-sample'):
            kd_loss(model, data, torch.full((b + 1, ), 4.0))
        try:
            model.kd_loss.tau = 4.0              # a fixed τ in the loss beats the shared one
            f2, f20 = (kd_loss(model, data, t)['loss_kd'] for t in (2.0, 20.0))
            assert torch.equal(f2, f20)
        finally:
            model.kd_loss.tau = None


def test_all_anchors_and_bounded_box_kd(kd):
    from mmdet.registry import MODELS
    model, data = kd
    with torch.no_grad():
        base = kd_loss(model, data, 4.0)
        try:
            model.kd_anchors = 'all'
            model.bbox_kd = MODELS.build(dict(type='TeacherBoundedRegLoss', loss_weight=0.5))
            more = kd_loss(model, data, 4.0)
        finally:
            model.kd_anchors, model.bbox_kd = 'pos_hardneg', None
    assert more['loss_kd'] > base['loss_kd'] > 0              # more anchors, same normaliser
    assert more['loss_bbox_kd'] >= 0
    assert torch.allclose(sum(more['loss_cls']), sum(base['loss_cls']))


def test_teacher_gets_own_preprocessing_and_size(kd, toy_voc, tmp_path):
    from mmdet.registry import MODELS
    model, data = kd
    raw = torch.stack(data['inputs']).float()
    mean = torch.tensor([103.53, 116.28, 123.675]).view(1, 3, 1, 1)   # BGR, std 1, no flip
    assert torch.allclose(model.teacher_inputs(data['inputs']), raw - mean)
    s = model.student.data_preprocessor(copy.deepcopy(data), False)['inputs']
    s_mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    s_std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    assert torch.allclose(s, (raw[:, [2, 1, 0]] - s_mean) / s_std, atol=1e-5)

    # a teacher at 256 px: one more stride-2 stage, the student's anchor layout scaled x2
    tcfg = load_cfg('configs/toy/ssd_teacher_toy.py').model
    tcfg.backbone.out_indices = (3, )
    tcfg.neck.update(in_channels=(256, ), out_channels=(256, 256, 256, 128),
                     level_strides=(2, 2, 2), level_paddings=(1, 1, 1))
    tcfg.bbox_head.in_channels = (256, 256, 256, 128)
    tcfg.bbox_head.anchor_generator.update(strides=[32, 64, 128, 256],
                                           min_sizes=[32, 72, 128, 192],
                                           max_sizes=[72, 128, 192, 256])
    path = str(tmp_path / 'big.pth')
    torch.save(dict(state_dict=MODELS.build(tcfg).state_dict()), path)
    model256 = build(kd_cfg(toy_voc, path, teacher_config=dict(model=tcfg),
                            teacher_input_size=256))
    assert model256.teacher_inputs(data['inputs']).shape[-2:] == (256, 256)
    with torch.no_grad():
        assert torch.isfinite(kd_loss(model256, data, 4.0)['loss_kd'])


def test_build_time_errors_name_both_numbers(toy_voc, toy_teacher_ckpt, mmdet_scope):
    with pytest.raises(ValueError, match=r'teacher has 1360 anchors .* student 340'):
        build(kd_cfg(toy_voc, toy_teacher_ckpt, teacher_input_size=256))
    tcfg = load_cfg('configs/toy/ssd_teacher_toy.py').model
    tcfg.bbox_head.num_classes = 5
    with pytest.raises(ValueError, match='teacher predicts 5 classes, student 3'):
        build(kd_cfg(toy_voc, toy_teacher_ckpt, teacher_config=tcfg))
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*model\.teacher_ckpt"):
        build(kd_cfg(toy_voc, 'work_dirs/nope.pth'))
    with pytest.raises(FileNotFoundError, match='model.teacher_config'):
        build(kd_cfg(toy_voc, toy_teacher_ckpt, teacher_config='configs/nope.py'))
    with pytest.raises(ValueError, match='kd_anchors'):
        build(kd_cfg(toy_voc, toy_teacher_ckpt, kd_anchors='neg'))


def test_runner_built_distiller_preprocesses_teacher_input_once(toy_voc, toy_teacher_ckpt,
                                                                tmp_path, mmdet_scope):
    # mmdet configs have a top-level `data_preprocessor` that mmengine's Runner injects into the
    # model dict: the distiller must ignore it, else the teacher sees a doubly normalised batch.
    cfg = kd_cfg(toy_voc, toy_teacher_ckpt, work_dir=tmp_path, epochs=1)
    assert cfg.get('data_preprocessor') is not None
    model = apis.build_runner(cfg).model
    batch = {k: v[:2] for k, v in pseudo_batch(toy_voc).items()}
    data = model.data_preprocessor(batch, True)
    raw = torch.stack(batch['inputs']).float()
    mean = torch.tensor([103.53, 116.28, 123.675]).view(1, 3, 1, 1)
    assert torch.allclose(model.teacher_inputs(data['inputs']), raw - mean)


def pseudo_batch(data_root):
    from mmdet.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    cfg = load_cfg('configs/toy/ssdlite_student_toy.py', data_root=data_root)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    return pseudo_collate([ds[i] for i in range(2)])
