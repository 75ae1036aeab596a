"""The CUDA paths of synthesis, checked on the CPU: host reads per round, the amp dtype and loss
scale, and banks that load to their own device.

PyTorch's ``meta`` device stands in for the accelerator: tensors there have shapes but no values,
so any read of one by the host (``.item()``, ``float()``, ``bool()``, ``.cpu()``) would be a
device-to-host sync on a GPU; :class:`HostTransfers` records each such read (and every
host-to-device copy) and lets it proceed with zeros.
"""
import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from mmkd_green.dfkd.synthesis import (CMISynthesizer, DeepInversionSynthesizer, FeatureBank,
                                       ImageBank)
from mmkd_green.dfkd.synthesis.bn_hooks import BNStatisticsDistance
from mmkd_green.dfkd.synthesis.precision import (SynthesisPrecision, check_amp, steps_taken,
                                                 synthesis_dtype)

from dfkd_helpers import MEAN, NUM_CLASSES, SIZE, STD, TinyBNNet

META = torch.device('meta')


class HostTransfers(TorchDispatchMode):
    """Records device→host reads of meta tensors (answered with zeros) and host→meta copies."""

    def __init__(self):
        super().__init__()
        self.reads, self.copies = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        src = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if name.startswith('aten._local_scalar_dense') and src.device == META:
            self.reads.append(name)
            return 0.0 if src.is_floating_point() else 0
        if name.startswith('aten._to_copy') and src is not None:
            dst = torch.device(kwargs.get('device') or src.device)
            if src.device == META and dst.type == 'cpu':
                self.reads.append(f'{name}{tuple(src.shape)}')
                return torch.zeros(src.shape, dtype=kwargs.get('dtype') or src.dtype)
            if src.device.type == 'cpu' and dst == META and src.numel():
                self.copies.append(tuple(src.shape))
        return func(*args, **kwargs)


def build(method, iterations, **kwargs):
    common = dict(synthesis_batch_size=4, iterations=iterations, img_size=(3, SIZE, SIZE),
                  mean=MEAN, std=STD, **kwargs)
    if method == 'cmi':
        return CMISynthesizer(NUM_CLASSES, generator=dict(type='DCGANGenerator', nz=8, ngf=4,
                                                          img_size=SIZE),
                              feature_bank_size=64, n_neg=16, head_dim=8, **common)
    return DeepInversionSynthesizer(NUM_CLASSES, keep='best', **common)


@pytest.mark.parametrize('method', ['deepinversion', 'cmi'])
def test_a_round_reads_the_device_a_fixed_number_of_times(method):
    """No synthesis step reads a device value or copies from the host: a round of 2 steps and
    one of 6 make the same transfers (the targets in; the kept images and the losses out), and
    CMI's feature bank lives and is sampled on the training device."""
    counts = []
    for iterations in (2, 6):
        torch.manual_seed(0)
        synth = build(method, iterations)
        teacher, student = TinyBNNet(width=4).eval(), TinyBNNet(width=4)
        synth.bind(teacher, student)
        for module in (synth, teacher, student) + ((synth.head, ) if method == 'cmi' else ()):
            module.to(META)
        for _ in range(2):                                  # CMI's 2nd round samples negatives
            with HostTransfers() as seen:
                synth.synthesize(targets=torch.arange(4) % NUM_CLASSES)
            counts.append((len(seen.reads), len(seen.copies)))
        if method == 'cmi':
            assert synth.feature_bank.data.device == META and len(synth.feature_bank) == 8
    assert counts[0] == counts[1] == counts[2] == counts[3], counts
    assert counts[0][0] <= 2 and counts[0][1] <= 1, counts


def test_amp_dtype_bf16_where_supported_else_fp16(monkeypatch):
    """``amp=True`` on CUDA: bf16 when the GPU supports it, else fp16 (which gets a scaler)."""
    cuda = torch.device('cuda')
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: True)
    assert synthesis_dtype(True, cuda, 'S') == torch.bfloat16
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: False)
    assert synthesis_dtype(True, cuda, 'S') == torch.float16
    assert synthesis_dtype('bf16', cuda, 'S') == torch.bfloat16
    assert synthesis_dtype('fp16', torch.device('cpu'), 'S') == torch.float16
    assert synthesis_dtype(False, cuda, 'S') is None
    assert SynthesisPrecision(torch.float16, 'cpu').scaler is not None
    assert SynthesisPrecision(torch.bfloat16, 'cpu').scaler is None
    with pytest.raises(ValueError, match='amp'):
        check_amp('int8', 'S')


def test_fp16_loss_scale_keeps_the_bn_statistics_gradient():
    """The BN-statistics gradient, ~1/M per element (M = N·H·W), flushes to zero in fp16 once
    a small factor of the chain multiplies it; the loss scale keeps it, bf16 needs none."""
    torch.manual_seed(0)
    running_mean, running_var = torch.zeros(4), torch.ones(4)
    base = torch.randn(64, 4, 64, 64) * 1.5 + 0.3              # M = 262 144 per channel

    def zero_fraction(dtype, scaled):
        x = base.to(dtype).requires_grad_()
        loss = 3e-3 * BNStatisticsDistance.apply(x, running_mean, running_var)
        precision = SynthesisPrecision(torch.float16 if scaled else None, 'cpu')
        precision.backward(loss)
        assert x.grad.dtype == dtype
        return float((x.grad == 0).float().mean())
    assert zero_fraction(torch.float16, scaled=False) > 0.5
    assert zero_fraction(torch.float16, scaled=True) < 0.01
    assert zero_fraction(torch.bfloat16, scaled=False) < 1e-3


def test_fp16_synthesis_scales_and_takes_every_optimizer_step(toy_teacher):
    """``amp='fp16'`` (what a GPU without bf16 gets): the networks run in fp16, their
    activations' gradients are scaled (non-zero), and every step of both CMI optimizers (the
    generator/latents' and the projection head's) is taken."""
    torch.manual_seed(0)
    synth = build('cmi', 6, amp='fp16')
    synth.synthesis_batch_size = 16
    synth.bind(toy_teacher, TinyBNNet(width=4))
    grads = []
    conv = next(m for m in toy_teacher.modules() if isinstance(m, nn.Conv2d))

    def keep_grad(module, inputs, out):
        if out.requires_grad:
            out.register_hook(lambda g: grads.append(g.detach().clone()))
    handle = conv.register_forward_hook(keep_grad)
    try:
        out = synth.synthesize(targets=torch.arange(16) % NUM_CLASSES)
    finally:
        handle.remove()
    assert synth.precision.dtype == torch.float16 and synth.precision.scaler is not None
    assert out['losses']['skipped_steps'] == 0
    assert steps_taken(synth.head_optimizer) == 6
    assert len(grads) == 6 and all(g.dtype == torch.float16 for g in grads)
    assert all(float((g != 0).float().mean()) > 0.9 for g in grads)
    assert all(v == v and abs(v) != float('inf') for v in out['losses'].values())


def test_banks_load_to_their_own_device():
    """A checkpoint mapped to another device (mmengine resumes with ``map_location`` on the
    GPU) restores each bank on the bank's own device, so the next round does not mix devices."""
    feats = FeatureBank(8, 3)
    feats.add(torch.rand(5, 3))
    on_device = FeatureBank(8, 3, device=META)               # stand-in for the training GPU
    on_device.load_state_dict(feats.state_dict())
    assert on_device.data.device == META
    on_device.add(torch.rand(4, 3))                          # host features of the next round
    assert len(on_device) == 8 and on_device.sample(6).device == META
    images = ImageBank()
    images.add(torch.rand(3, 3, 4, 4))
    other = ImageBank(device=META)
    other.load_state_dict(images.state_dict())
    assert other.images().device == META and len(other) == 3
    other.add(torch.rand(2, 3, 4, 4))
    assert len(other) == 5
    assert feats.state_dict()['data'].device.type == 'cpu'   # checkpoints are device-neutral
