"""Synthesizers on a small trained teacher: BN statistics, target classes, bank and views."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd_green.dfkd.synthesis import (CMISynthesizer, DeepInversionSynthesizer, FeatureBank,
                                       ImageBank, bn_statistics_loss)
from mmkd_green.dfkd.synthesis.augment import random_crop_flip, random_resized_crop_flip
from mmkd_green.dfkd.synthesis.priors import total_variation

from dfkd_helpers import NUM_CLASSES, SIZE, TinyBNNet, accuracy, normalize


def _check_synthesis(teacher, synth, n=32):
    torch.manual_seed(1)
    targets = torch.arange(n) % NUM_CLASSES
    out = synth.synthesize(targets=targets)
    images = out['images']
    assert images.shape == (n, 3, SIZE, SIZE) and 0 <= images.min() and images.max() <= 1
    noise = torch.rand(n, 3, SIZE, SIZE)
    # BN statistics of the synthesized batch are far closer to the teacher's than noise's
    bn_noise = bn_statistics_loss(teacher, normalize(noise))
    bn_synth = bn_statistics_loss(teacher, normalize(images))
    assert bn_synth < 0.5 * bn_noise, (bn_synth, bn_noise)
    # the teacher classifies them as their targets far more often than noise
    acc_synth = accuracy(teacher, images, targets)
    acc_noise = accuracy(teacher, noise, targets)
    assert acc_synth >= 0.6 and acc_synth > acc_noise + 0.3, (acc_synth, acc_noise)
    assert len(synth.bank) == n
    batch = synth.sample(16)
    assert batch.shape == (16, 3, SIZE, SIZE)
    return out


def test_deepinversion_matches_bn_statistics_and_targets(toy_teacher, synth_kwargs):
    student = TinyBNNet(width=4)
    synth = DeepInversionSynthesizer(NUM_CLASSES, synthesis_batch_size=32, iterations=30,
                                     lr=0.1, bn=1.0, oh=1.0, adv=1.0, tv=1e-3, **synth_kwargs)
    before = [p.detach().clone() for p in student.parameters()]
    teacher = copy.deepcopy(toy_teacher).requires_grad_(True)     # a teacher left trainable
    synth.bind(teacher, student)
    student.train()
    _check_synthesis(teacher, synth)
    # teacher and student are untouched: no weight gradient is computed for either (both
    # frozen for the round), their requires_grad flags and modes are restored
    for net in (student, teacher):
        assert all(p.grad is None and p.requires_grad for p in net.parameters())
    assert student.training and not teacher.training
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters()))


@pytest.mark.parametrize('method', ['deepinversion', 'cmi'])
def test_channels_last_changes_layout_not_results(toy_teacher, synth_kwargs, method):
    """The channels-last input layout is a speed choice: same images up to float rounding."""
    def run(channels_last):
        torch.manual_seed(3)
        if method == 'cmi':
            synth = CMISynthesizer(NUM_CLASSES, synthesis_batch_size=8, iterations=3, lr=5e-2,
                                   generator=dict(type='DCGANGenerator', nz=16, ngf=8,
                                                  img_size=SIZE),
                                   feature_bank_size=64, n_neg=16, head_dim=16,
                                   channels_last=channels_last, **synth_kwargs)
        else:
            synth = DeepInversionSynthesizer(NUM_CLASSES, synthesis_batch_size=8, iterations=3,
                                             channels_last=channels_last, **synth_kwargs)
        synth.bind(toy_teacher, TinyBNNet(width=4))
        return synth.synthesize(targets=torch.arange(8) % NUM_CLASSES)

    a, b = run(True), run(False)
    assert torch.allclose(a['images'], b['images'], atol=1e-3)
    assert a['losses']['total'] == pytest.approx(b['losses']['total'], rel=1e-3)


def test_cmi_matches_bn_statistics_and_targets(toy_teacher, synth_kwargs):
    torch.manual_seed(0)     # the generator's initial weights: independent of earlier tests
    synth = CMISynthesizer(NUM_CLASSES, synthesis_batch_size=32, iterations=25, lr=5e-2,
                           generator=dict(type='DCGANGenerator', nz=32, ngf=16, img_size=SIZE),
                           feature_bank_size=256, n_neg=64, head_dim=32, **synth_kwargs)
    synth.bind(toy_teacher, TinyBNNet(width=4))
    out = _check_synthesis(toy_teacher, synth)
    assert {'bn', 'oh', 'adv', 'cr', 'total'} <= set(out['losses'])
    assert len(synth.feature_bank) == 32
    # a second round contrasts against the memory bank and appends to both banks
    synth.iterations = 2
    synth.synthesize()
    assert len(synth.bank) == 64 and len(synth.feature_bank) == 64


def test_teacher_without_batchnorm_is_rejected(synth_kwargs):
    teacher = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    synth = DeepInversionSynthesizer(NUM_CLASSES, adv=0.0, **synth_kwargs).bind(teacher)
    with pytest.raises(ValueError, match='no nn.BatchNorm2d'):
        synth.synthesize()


@pytest.mark.parametrize('kwargs, match', [
    (dict(iterations=0), 'iterations'), (dict(lr=0), 'lr'), (dict(bn=-1), 'bn'),
    (dict(img_size=(32, 32)), 'img_size'), (dict(num_classes=1), 'num_classes')])
def test_bad_arguments_name_the_problem(kwargs, match):
    args = dict(num_classes=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DeepInversionSynthesizer(**args)


def test_adversarial_term_needs_a_student(toy_teacher, synth_kwargs):
    with pytest.raises(ValueError, match='needs a student'):
        DeepInversionSynthesizer(NUM_CLASSES, adv=1.0, **synth_kwargs).bind(toy_teacher)


def test_image_bank_quantises_grows_and_rings():
    bank = ImageBank()
    a = torch.rand(5, 3, 4, 4)
    bank.add(a)
    bank.add(torch.rand(7, 3, 4, 4))
    assert len(bank) == 12
    assert torch.equal(bank.images()[:5], (a * 255).round().to(torch.uint8))
    ring = ImageBank(max_size=8)
    batches = [torch.full((3, 1, 2, 2), i / 10) for i in range(4)]
    for b in batches:
        ring.add(b)
    assert len(ring) == 8 and ring.n_added == 12
    # the 4 oldest images (batch 0 and the first of batch 1) were overwritten
    values = sorted(set(ring.images()[:, 0, 0, 0].tolist()))
    assert values == [round(255 * v / 10) for v in (1, 2, 3)]
    restored = ImageBank()
    restored.load_state_dict(copy.deepcopy(ring.state_dict()))
    assert torch.equal(restored.images(), ring.images()) and restored.max_size == 8
    ring.add(torch.ones(1, 1, 2, 2)), restored.add(torch.ones(1, 1, 2, 2))
    assert torch.equal(restored.images(), ring.images())
    with pytest.raises(RuntimeError, match='empty'):
        ImageBank().sample(2)


def test_feature_bank_ring_and_sampling():
    bank = FeatureBank(max_size=6, dim=2)
    for i in range(4):
        bank.add(torch.full((2, 2), float(i)))
    assert len(bank) == 6
    assert sorted(set(bank.data[:, 0].tolist())) == [1.0, 2.0, 3.0]
    assert bank.sample(4).shape == (4, 2) and bank.sample(100).shape == (6, 2)
    with pytest.raises(ValueError, match='width'):
        bank.add(torch.zeros(1, 3))


def test_random_crop_flip_equals_pad_and_crop():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 8, 8)
    g = torch.Generator().manual_seed(3)
    out = random_crop_flip(x, padding=2, flip=False, generator=g)
    g = torch.Generator().manual_seed(3)
    dy = torch.randint(-2, 3, (6,), generator=g)
    dx = torch.randint(-2, 3, (6,), generator=g)
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(6):
        ref = padded[i, :, 2 + dy[i]:2 + dy[i] + 8, 2 + dx[i]:2 + dx[i] + 8]
        assert torch.allclose(out[i], ref, atol=1e-5)
    flipped = random_crop_flip(x, padding=0, flip=True)
    for i in range(6):
        assert torch.allclose(flipped[i], x[i], atol=1e-5) or \
            torch.allclose(flipped[i], x[i].flip(2), atol=1e-5)
    local = random_resized_crop_flip(x.requires_grad_(), scale=(0.25, 1.0))
    local.sum().backward()          # differentiable: CMI's generator learns through the views
    assert local.shape == x.shape and x.grad is not None


def test_total_variation_of_constant_and_checkerboard():
    assert float(total_variation(torch.ones(1, 1, 4, 4))) == 0.0
    board = (torch.arange(4)[:, None] + torch.arange(4)[None]) % 2
    # horizontal and vertical neighbours differ by 1, diagonal ones by 0
    assert float(total_variation(board.float().view(1, 1, 4, 4))) == pytest.approx(2.0)


@pytest.mark.parametrize('method', ['deepinversion', 'cmi'])
def test_amp_synthesis_low_precision_networks_fp32_statistics(toy_teacher, synth_kwargs, method):
    """``amp=True`` (bf16 autocast on this CPU): the networks' convolutions run in bf16, the
    BN statistics, logits and losses in fp32, and the round still reaches the quality checks
    of the fp32 tests (teacher BN statistics and targets)."""
    from mmkd_green.utils.cpu_autocast import cpu_bf16_supported
    if not cpu_bf16_supported():
        pytest.skip('needs a CPU with native bf16 (avx512_bf16 / AMX)')
    torch.manual_seed(0)
    if method == 'cmi':
        synth = CMISynthesizer(NUM_CLASSES, synthesis_batch_size=32, iterations=25, lr=5e-2,
                               generator=dict(type='DCGANGenerator', nz=32, ngf=16,
                                              img_size=SIZE),
                               feature_bank_size=256, n_neg=64, head_dim=32, amp=True,
                               **synth_kwargs)
    else:
        synth = DeepInversionSynthesizer(NUM_CLASSES, synthesis_batch_size=32, iterations=30,
                                         lr=0.1, bn=1.0, oh=1.0, adv=1.0, tv=1e-3, amp=True,
                                         **synth_kwargs)
    teacher = copy.deepcopy(toy_teacher)
    synth.bind(teacher, TinyBNNet(width=4))
    seen = {'conv': set(), 'logits': set()}
    conv = next(m for m in teacher.modules() if isinstance(m, nn.Conv2d))
    conv.register_forward_hook(lambda m, i, o: seen['conv'].add(o.dtype))
    run_net = synth.run_net

    def spy(net, x):
        out = run_net(net, x)
        seen['logits'].add(out.dtype)
        return out
    synth.run_net = spy
    out = _check_synthesis(teacher, synth)
    assert torch.bfloat16 in seen['conv'] and seen['logits'] == {torch.float32}
    assert all(isinstance(v, float) and v == v for v in out['losses'].values())


def test_bn_hooks_take_statistics_of_low_precision_inputs_in_fp32():
    from mmkd_green.dfkd.synthesis.bn_hooks import BNHooks
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    x = torch.randn(8, 4, 5, 5).bfloat16()
    hooks = BNHooks(nn.Sequential(bn), instance_means=True)
    hooks._hook(bn, (x, ), None)
    low, means = hooks.bn_loss(), hooks.instance_features()
    hooks._hook(bn, (x.float(), ), None)
    assert low.dtype == means.dtype == torch.float32
    assert torch.equal(low, hooks.bn_loss()) and torch.equal(means, hooks.instance_features())


def test_fused_bn_statistics_distance_value_and_gradient():
    """``BNStatisticsDistance`` = ‖var − var_run‖ + ‖mean − mean_run‖ with autograd's value
    and gradient (gradcheck in float64, channels-last too), zero gradient at zero distance."""
    from mmkd_green.dfkd.synthesis.bn_hooks import BNStatisticsDistance
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    rm, rv = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    torch.autograd.gradcheck(lambda t: BNStatisticsDistance.apply(t, rm, rv), (x, ))
    torch.autograd.gradcheck(lambda t: BNStatisticsDistance.apply(
        t.contiguous(memory_format=torch.channels_last), rm, rv), (x, ))
    var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    reference = torch.linalg.vector_norm(var - rv) + torch.linalg.vector_norm(mean - rm)
    assert torch.allclose(BNStatisticsDistance.apply(x, rm, rv), reference)
    exact = x.detach().clone().requires_grad_()
    var, mean = torch.var_mean(exact.detach(), dim=(0, 2, 3), unbiased=False)
    BNStatisticsDistance.apply(exact, mean, var).backward()
    assert torch.isfinite(exact.grad).all() and exact.grad.abs().max() == 0
