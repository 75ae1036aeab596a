"""Synthesis FLOPs per round against hand counts, while CMI's feature bank fills and on resume."""
import pytest
import torch
import torch.nn as nn

from mmkd_green.dfkd.synthesis import CMISynthesizer, DeepInversionSynthesizer
from mmkd_green.dfkd.synthesis_flops import SynthesisFlopCounter

N, S, K = 4, 8, 5            # synthesis batch, image side, classes
C_T, C_S = 6, 3              # teacher / student conv widths (teacher: feature width D = C_T)
NZ, NGF, P, STEPS = 8, 4, 7, 2
BANK, NEG = 3 * N, 6         # feature bank rows, negatives per step


class OneConv(nn.Module):
    """conv3x3 (no bias) → BN → ReLU → global pool → linear: one BN layer, feature width c."""

    def __init__(self, c):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, K)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def conv(n, cin, cout, side):
    return 2 * n * cout * side * side * cin * 9


def hand_count_cmi_round(k):
    """One CMI round, counted by hand (matmuls and convolutions; 2 FLOPs per multiply-add)."""
    n, s = N, S
    # generator: fc, conv 2ngf→2ngf at s/2, conv 2ngf→ngf at s, conv ngf→3 at s; backward =
    # weight + input gradients of every layer (z and all weights are optimised) = 2 x forward
    gen = 2 * n * NZ * 2 * NGF * (s // 4) ** 2 + conv(n, 2 * NGF, 2 * NGF, s // 2) + \
        conv(n, 2 * NGF, NGF, s) + conv(n, NGF, 3, s)
    gen *= 3
    # teacher (frozen: input gradients only), both views in one pass: forward + backward of
    # conv and fc for each (the local view's logits are unused, so its rows of the fc's
    # backward carry zero gradient, but the shared pass computes them)
    t_conv, t_fc = conv(n, 3, C_T, s), 2 * n * C_T * K
    teacher = 2 * (2 * (t_conv + t_fc))
    # student (frozen, adversarial term on the global view): forward + input gradients
    student = 2 * (conv(n, 3, C_S, s) + 2 * n * C_S * K)
    # head on R = n + k rows per view (D = C_T, hidden D, out P)
    r, d = n + k, C_T
    head = 12 * r * d * (d + P) + 4 * r * r * P
    return STEPS * (gen + teacher + student + head)


def _cmi(seed=0):
    torch.manual_seed(seed)
    teacher, student = OneConv(C_T).eval(), OneConv(C_S).eval()
    synth = CMISynthesizer(K, img_size=(3, S, S), synthesis_batch_size=N, iterations=STEPS,
                           generator=dict(type='DCGANGenerator', nz=NZ, ngf=NGF, img_size=S),
                           head_dim=P, feature_bank_size=BANK, n_neg=NEG, kd_padding=0)
    return synth.bind(teacher, student)


def test_cmi_flops_per_round_match_hand_counts_as_the_bank_fills():
    synth, counter = _cmi(), SynthesisFlopCounter()
    per_round = [counter(synth, synth.synthesize)[1] for _ in range(5)]
    cached = [0, N, NEG, NEG, NEG]          # min(len(bank), n_neg) at each round's start
    assert per_round == [hand_count_cmi_round(k) for k in cached]
    assert per_round[0] < per_round[1] < per_round[2]       # the empty-bank count is too low
    assert counter.counted_rounds == 3 and len(synth.feature_bank) == BANK   # full bank


def test_resumed_synthesizer_reports_the_same_per_round_flops():
    synth = _cmi()
    for _ in range(3):
        synth.synthesize()
    resumed = _cmi(seed=1)
    resumed.load_state_dict(synth.state_dict())
    assert resumed.flops_key() == synth.flops_key()
    _, flops = SynthesisFlopCounter()(resumed, resumed.synthesize)
    assert flops == hand_count_cmi_round(NEG)


def test_deepinversion_rounds_are_counted_once():
    torch.manual_seed(0)
    synth = DeepInversionSynthesizer(K, img_size=(3, S, S), synthesis_batch_size=N,
                                     iterations=STEPS, adv=1.0, kd_padding=0)
    synth.bind(OneConv(C_T).eval(), OneConv(C_S).eval())
    counter = SynthesisFlopCounter()
    flops = [counter(synth, synth.synthesize)[1] for _ in range(2)]
    # pixels optimised: teacher and student forward + input gradients, per step
    hand = STEPS * 2 * (conv(N, 3, C_T, S) + 2 * N * C_T * K + conv(N, 3, C_S, S) + 2 * N * C_S * K)
    assert flops == [hand, hand] and counter.counted_rounds == 1


def _deepinversion(seed=0):
    torch.manual_seed(seed)
    synth = DeepInversionSynthesizer(K, img_size=(3, S, S), synthesis_batch_size=N,
                                     iterations=STEPS + 1, adv=1.0, kd_padding=0)
    return synth.bind(OneConv(C_T).eval(), OneConv(C_S).eval())


@pytest.mark.parametrize('make', [_cmi, _deepinversion], ids=['cmi', 'deepinversion'])
def test_one_counted_step_times_steps_equals_the_whole_round_count(make):
    """F_round = S · F_step gives what counting the whole round under the dispatch mode gave,
    round by round (CMI: while its feature bank fills, 3 distinct round shapes)."""
    from mmkd_green.energy.flops import count_flops
    whole, stepwise, counter = make(), make(), SynthesisFlopCounter()
    torch.manual_seed(5)
    old = [count_flops(whole.synthesize)[1] for _ in range(4)]
    torch.manual_seed(5)
    new = [counter(stepwise, stepwise.synthesize)[1] for _ in range(4)]
    assert new == old and sum(new) == sum(old) > 0
    assert counter.counted_steps == counter.counted_rounds == len(set(new))


def test_only_the_first_step_of_a_counted_round_runs_under_the_counter():
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
    synth, counter = _deepinversion(), SynthesisFlopCounter()
    modes = []

    def rounds():
        return synth.synthesize(progress=lambda step, losses: modes.append(
            len(_get_current_dispatch_mode_stack())))
    counter(synth, rounds)
    counter(synth, rounds)                   # same shapes: no step counted
    assert modes == [1] + [0] * STEPS + [0] * (STEPS + 1)
    assert synth.__dict__.get('_step_flops') is None   # the probe is detached after the round


@pytest.mark.parametrize('keep', ['last', 'best'])
def test_deepinversion_keeps_the_last_batch_like_upstream_or_the_best(keep):
    """One step: 'best' returns the initial pixels x0 (the only evaluated loss); 'last' returns
    x1 = clamp(x0 − lr·m̂/(√v̂ + ε)), i.e. |x1 − x0| = lr wherever Adam's first step is not
    clamped (m̂/√v̂ = sign of the gradient)."""
    torch.manual_seed(0)
    lr = 0.05
    synth = DeepInversionSynthesizer(K, img_size=(3, S, S), synthesis_batch_size=N, iterations=1,
                                     lr=lr, adv=0.0, keep=keep, kd_padding=0)
    synth.bind(OneConv(C_T).eval())
    targets = torch.arange(N) % K
    torch.manual_seed(1)
    images = synth.synthesize(targets)['images']
    torch.manual_seed(1)
    x0 = torch.randn(N, 3, S, S)                      # the round's first draw
    if keep == 'best':
        assert torch.allclose(images, synth.normalize.inverse(x0).clamp(0, 1), atol=1e-6)
        return
    step = (synth.normalize(images) - x0).abs()
    lo, hi = synth.normalize(torch.zeros_like(x0)), synth.normalize(torch.ones_like(x0))
    free = (x0 > lo + 2 * lr) & (x0 < hi - 2 * lr)
    assert free.float().mean() > 0.5
    assert float(step[free].median()) == pytest.approx(lr, rel=1e-3)
    assert float(step[free].max()) <= lr * (1 + 1e-4)
    with pytest.raises(ValueError, match='keep must be "last"'):
        DeepInversionSynthesizer(K, keep='first')
