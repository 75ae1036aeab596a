"""Real mmengine runs of the shipped configs on generated CIFAR pickles (tiny networks)."""
import glob
import os.path as osp

import pytest
import torch
from mmkd_green import apis
from cls_helpers import ROOT, load, save_teacher, shrink


def _cfg(name):
    return load(osp.join('cifar10', name))


@pytest.fixture(scope='module')
def teacher_run(cifar10_root, tmp_path_factory):
    """Train the teacher config for one epoch; its last checkpoint feeds the KD runs."""
    work = str(tmp_path_factory.mktemp('teacher'))
    cfg = shrink(_cfg('resnet18_teacher.py'), cifar10_root, work, count_flops=True)
    runner = apis.build_runner(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    return cfg, work, metrics


def test_teacher_run_reports_all_metrics(teacher_run):
    _, work, metrics = teacher_run
    for key in ('accuracy', 'precision', 'recall', 'specificity', 'kappa', 'f1', 'prevalence'):
        assert f'cls/{key}' in metrics
    assert 0 <= metrics['cls/accuracy'] <= 100
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    from mmkd_green.energy.report import load_run_totals
    totals = load_run_totals(work)          # metered like every run
    assert totals['finished'] and totals['train_flops'] > 0 and totals['energy_kwh'] > 0
    # the confusion matrix PNG reaches the work dir through the runner's visualizer
    pngs = glob.glob(osp.join(work, '*', 'vis_data', 'vis_image', 'confusion_matrix_*.png'))
    assert pngs and open(pngs[0], 'rb').read(4) == b'\x89PNG'


@pytest.mark.parametrize('config', ['kd_hkd_stochastic_resnet18_mobilenetv2.py',
                                    'kd_dml_fixed_resnet18_mobilenetv2.py'])
def test_kd_iterations_update_student_only(teacher_run, tmp_path, cifar10_root, config):
    _, t_work, _ = teacher_run
    cfg = shrink(_cfg(config), cifar10_root, str(tmp_path),
                 teacher_ckpt=osp.join(t_work, 'epoch_1.pth'))
    runner = apis.build_runner(cfg)
    model = runner.model
    t_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    s_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    runner.train()
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert all(torch.equal(t_before[k], v) for k, v in model.teacher.state_dict().items())
    assert any(not torch.equal(s_before[k], v) for k, v in model.backbone.state_dict().items())
    taus = runner.message_hub.get_scalar('train/tau').data[0]
    if 'fixed' in config:
        assert set(taus.tolist()) == {4.0}
    else:
        assert len(set(taus.tolist())) > 1 and all(2.0 <= t <= 20.0 for t in taus)
    # the KD checkpoint is a plain student checkpoint: it loads into the student's own config
    from mmengine.runner import load_checkpoint

    from mmkd_green.registry import MODELS
    student = MODELS.build(shrink(_cfg('mobilenetv2_student.py'), cifar10_root, '').model)
    load_checkpoint(student, osp.join(str(tmp_path), 'epoch_1.pth'), strict=True)


def test_missing_teacher_checkpoint_fails_at_build(tmp_path, cifar10_root):
    cfg = shrink(_cfg('kd_cmc_stochastic_resnet18_mobilenetv2.py'), cifar10_root, str(tmp_path),
                 teacher_ckpt=str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        apis.build_runner(cfg)


def test_class_count_mismatch_names_both(tmp_path):
    from mmkd_green.registry import MODELS
    ckpt = save_teacher(dict(type='CifarResNet18', num_classes=100, base_channels=4),
                        str(tmp_path / 't.pth'))
    with pytest.raises(ValueError, match='100 classes but the student 10'):
        MODELS.build(dict(type='KDClassifier',
                          student=dict(type='CifarMobileNetV2', num_classes=10, widen_factor=0.25),
                          teacher=dict(type='CifarResNet18', num_classes=100, base_channels=4),
                          teacher_ckpt=ckpt))


def test_amp_without_cuda_trains_in_bf16_autocast(teacher_run, tmp_path, cifar10_root):
    """``--amp`` on a CPU: ``CPUAutocastOptimWrapper``; the networks' convolutions run in bf16,
    the KD loss, parameters and gradients stay fp32, and the run trains and checkpoints."""
    from mmkd_green.utils.cpu_autocast import cpu_bf16_supported
    if torch.cuda.is_available() or not cpu_bf16_supported():
        pytest.skip('needs a CPU-only machine with native bf16 (avx512_bf16 / AMX)')
    _, t_work, _ = teacher_run
    cfg = apis.load_config(osp.join(ROOT, 'configs', 'cifar10',
                                    'kd_hkd_stochastic_resnet18_mobilenetv2.py'), amp=True)
    cfg = shrink(cfg, cifar10_root, str(tmp_path), teacher_ckpt=osp.join(t_work, 'epoch_1.pth'))
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    runner = apis.build_runner(cfg)
    model = runner.model
    seen = {'student': [], 'teacher': [], 'loss': []}
    for name, net in (('student', model.backbone), ('teacher', model.teacher)):
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        def record(m, i, o, name=name):   # training steps only (validation runs in fp32)
            if model.backbone.training:
                seen[name].append(o.dtype)
        conv.register_forward_hook(record)
    model.kd_loss.register_forward_hook(lambda m, i, o: seen['loss'].append(o.dtype))
    s_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    runner.train()
    assert seen['student'] and set(seen['student']) == {torch.bfloat16}
    assert seen['teacher'] and set(seen['teacher']) == {torch.bfloat16}
    assert set(seen['loss']) == {torch.float32}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(s_before[k], v) for k, v in model.backbone.state_dict().items())
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))


def test_cpu_autocast_refuses_a_cpu_without_bf16(monkeypatch):
    """A CPU without native bf16 (stand-in: oneDNN's capability check answers False) is refused
    with the fix, instead of training several times slower than fp32."""
    from mmengine.optim import build_optim_wrapper
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: False)
    net = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match='no native bf16.*without --amp'):
        build_optim_wrapper(net, dict(type='CPUAutocastOptimWrapper',
                                      optimizer=dict(type='SGD', lr=0.1)))


def test_kd_loss_of_bf16_logits_is_the_fp32_loss_of_the_same_values():
    from mmkd_green.losses import HKDLoss
    torch.manual_seed(0)
    s, t = torch.randn(8, 10).bfloat16(), torch.randn(8, 10).bfloat16()
    y = torch.randint(0, 10, (8, ))
    loss = HKDLoss(alpha=0.9)
    low = loss(s, t, y, tau=torch.tensor(7.0))
    assert low.dtype == torch.float32
    assert torch.equal(low, loss(s.float(), t.float(), y, tau=torch.tensor(7.0)))
