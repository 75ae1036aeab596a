"""channels_last in data-free KD converts the networks, not only their inputs: teacher, student
and CMI's generator hold NHWC weights, and synthesis and KD steps give NCHW's results up to float
rounding. (3×3 convolutions only: safe on AVX2-only oneDNN CPUs too.)"""
import copy

import pytest
import torch

from mmkd_green.dfkd import DataFreeDistiller
from mmkd_green.dfkd.synthesis import CMISynthesizer, DeepInversionSynthesizer
from mmkd_green.temperature.current import publish_temperature

from dfkd_helpers import NUM_CLASSES, SIZE, TinyBNNet


def conv_weights(net):
    return [p for p in net.parameters() if p.dim() == 4]


def nhwc(net):
    """Every 4-D weight strided channels-last and not NCHW (the two differ for C, H·W > 1)."""
    ws = conv_weights(net)
    return bool(ws) and all(w.is_contiguous(memory_format=torch.channels_last)
                            and not w.is_contiguous() for w in ws)


def nchw(net):
    return all(w.is_contiguous() for w in conv_weights(net))


def _synth(method, channels_last, synth_kwargs):
    if method == 'cmi':
        return CMISynthesizer(NUM_CLASSES, synthesis_batch_size=8, iterations=3, lr=5e-2,
                              generator=dict(type='DCGANGenerator', nz=16, ngf=8, img_size=SIZE),
                              feature_bank_size=64, n_neg=16, head_dim=16,
                              channels_last=channels_last, **synth_kwargs)
    return DeepInversionSynthesizer(NUM_CLASSES, synthesis_batch_size=8, iterations=3,
                                    channels_last=channels_last, **synth_kwargs)


@pytest.mark.parametrize('method', ['deepinversion', 'cmi'])
def test_bind_puts_the_networks_in_the_synthesis_layout(toy_teacher, synth_kwargs, method):
    def run(channels_last):
        torch.manual_seed(3)
        teacher, student = copy.deepcopy(toy_teacher), TinyBNNet(width=4)
        synth = _synth(method, channels_last, synth_kwargs).bind(teacher, student)
        out = synth.synthesize(targets=torch.arange(8) % NUM_CLASSES)
        synth.synthesize()          # CMI re-draws its generator in place: layout kept
        return synth, teacher, student, out

    s_cl, t_cl, st_cl, a = run(True)
    s_nc, t_nc, st_nc, b = run(False)
    nets_cl = [t_cl, st_cl] + ([s_cl.generator] if method == 'cmi' else [])
    nets_nc = [t_nc, st_nc] + ([s_nc.generator] if method == 'cmi' else [])
    assert all(nhwc(n) for n in nets_cl) and all(nchw(n) for n in nets_nc)
    assert torch.allclose(a['images'], b['images'], atol=1e-3)
    assert a['losses']['total'] == pytest.approx(b['losses']['total'], rel=1e-3)
    for x, y in zip(nets_cl[:2], nets_nc[:2]):        # frozen: same values, other strides
        assert all(torch.equal(p, q) for p, q in zip(x.parameters(), y.parameters()))
    for x, y in zip(nets_cl[2:], nets_nc[2:]):        # the generator: same draw, then trained
        assert all(torch.allclose(p, q, atol=1e-4) for p, q in zip(x.parameters(),
                                                                   y.parameters()))


def test_nchw_synthesizer_puts_a_channels_last_teacher_back_to_nchw(toy_teacher, synth_kwargs):
    """What ``channels_last='auto'`` resolved to False (an AVX2-only oneDNN CPU) relies on."""
    teacher = copy.deepcopy(toy_teacher).to(memory_format=torch.channels_last)
    assert nhwc(teacher)
    _synth('deepinversion', False, synth_kwargs).bind(teacher, TinyBNNet(width=4))
    assert nchw(teacher)


def _distiller(channels_last, teacher, synth_kwargs):
    torch.manual_seed(0)
    return DataFreeDistiller(student=TinyBNNet(width=4), teacher=copy.deepcopy(teacher),
                             synthesizer=_synth('cmi', channels_last, synth_kwargs))


def test_distiller_kd_step_runs_nhwc_with_nchw_results(toy_teacher, synth_kwargs):
    cl, nc = _distiller(True, toy_teacher, synth_kwargs), _distiller(False, toy_teacher,
                                                                     synth_kwargs)
    cl.to('cpu')                                      # a device move keeps the layout
    assert nhwc(cl.student) and nhwc(cl.teacher) and nhwc(cl.synthesizer.generator)
    assert nchw(nc.student) and nchw(nc.teacher)
    torch.manual_seed(1)
    x = torch.randn(16, 3, SIZE, SIZE)
    seen = []
    handle = cl.student.features[0].register_forward_pre_hook(
        lambda m, inp: seen.append(inp[0].is_contiguous(memory_format=torch.channels_last)))
    grads = []
    for model in (cl, nc):
        publish_temperature(4.0)
        loss = model(x, mode='loss')['loss_kd']
        model.student.zero_grad()
        loss.backward()
        grads.append((float(loss.detach()),
                      [p.grad.clone() for p in model.student.parameters()]))
    handle.remove()
    assert seen == [True]                             # the KD batch reaches it NHWC
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-4)
    for g, h in zip(grads[0][1], grads[1][1]):
        assert torch.allclose(g, h, atol=1e-5, rtol=1e-4)
    w = next(p for p in cl.student.parameters() if p.dim() == 4)
    assert w.grad.is_contiguous(memory_format=torch.channels_last)   # the optimizer step too
