import math

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmkd_green.losses import CMCLoss, DMLLoss, HKDLoss
from mmkd_green.registry import MODELS
from mmkd_green.temperature import publish_temperature


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


S = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
T = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
Y = np.array([1, 2])


def hand(kind, tau, alpha=0.95, ce_w=1.0, kl_w=1.0):
    """Per-row losses computed with numpy from the docstring formulas."""
    ps, pt = np_softmax(S / tau), np_softmax(T / tau)
    kl = (pt * (np.log(pt) - np.log(ps))).sum(-1)
    ce = -np.log(np_softmax(S)[np.arange(2), Y])
    if kind == 'hkd':
        return alpha * tau ** 2 * kl + (1 - alpha) * ce
    if kind == 'cmc':
        return alpha * tau ** 2 * ((ps - pt) ** 2).sum(-1) + (1 - alpha) * ce
    return ce_w * ce + kl_w * tau ** 2 * kl


def t(a, dtype=torch.float64):
    return torch.tensor(a, dtype=dtype)


@pytest.mark.parametrize('cls,kind', [(HKDLoss, 'hkd'), (CMCLoss, 'cmc'), (DMLLoss, 'dml')])
@pytest.mark.parametrize('tau', [1.0, 4.0, 17.5])
def test_against_hand_computed(cls, kind, tau):
    loss = cls(tau=tau, reduction='none')
    out = loss(t(S), t(T), torch.tensor(Y))
    np.testing.assert_allclose(out.numpy(), hand(kind, tau), rtol=1e-10)
    mean = cls(tau=tau)(t(S), t(T), torch.tensor(Y))
    assert mean.item() == pytest.approx(hand(kind, tau).mean(), rel=1e-10)


def test_hkd_closed_form_single_row():
    # one row, two classes, identical logits: KL = 0, loss = (1 - α)·CE = 0.05·log 2
    loss = HKDLoss(tau=3.0)(t([[0.0, 0.0]]), t([[0.0, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(0.05 * math.log(2), rel=1e-12)


def test_without_labels_only_soft_term():
    out = HKDLoss(tau=2.0, alpha=0.95, reduction='none')(t(S), t(T))
    np.testing.assert_allclose(out.numpy(), hand('hkd', 2.0) - 0.05 * -np.log(
        np_softmax(S)[np.arange(2), Y]), rtol=1e-10)


@pytest.mark.parametrize('cls', [HKDLoss, CMCLoss, DMLLoss])
def test_gradcheck_float64_scalar_and_per_sample_tau(cls):
    torch.manual_seed(0)
    s = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    te = torch.randn(5, 7, dtype=torch.float64)
    y = torch.randint(0, 7, (5,))
    w = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5], dtype=torch.float64)
    loss = cls(reduction='mean')
    assert torch.autograd.gradcheck(lambda x: loss(x, te, y, weight=w, tau=3.0), (s,))
    per = torch.tensor([0.5, 2.0, 4.0, 10.0, 100.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: loss(x, te, y, tau=per, avg_factor=3.0), (s,))


@pytest.mark.parametrize('cls', [HKDLoss, CMCLoss, DMLLoss])
def test_per_sample_tau_equals_loop_of_scalar(cls):
    torch.manual_seed(1)
    s, te, y = torch.randn(6, 4), torch.randn(6, 4), torch.randint(0, 4, (6,))
    taus = torch.tensor([0.5, 1.0, 2.0, 7.0, 20.0, 100.0])
    loss = cls(reduction='none')
    batched = loss(s, te, y, tau=taus)
    looped = torch.cat([loss(s[i:i + 1], te[i:i + 1], y[i:i + 1], tau=float(taus[i]))
                        for i in range(6)])
    torch.testing.assert_close(batched, looped)


@pytest.mark.parametrize('cls', [HKDLoss, CMCLoss, DMLLoss])
@pytest.mark.parametrize('tau', [0.5, 1.0, 20.0, 100.0])
def test_finite_for_extreme_logits_and_tau(cls, tau):
    s = torch.tensor([[80.0, -80.0, 0.0], [-1e3, 1e3, 5.0]], requires_grad=True)
    te = torch.tensor([[-80.0, 80.0, 0.0], [1e3, -1e3, 0.0]])
    out = cls()(s, te, torch.tensor([0, 1]), tau=tau)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all()


def test_weight_mask_avg_factor_and_loss_weight():
    torch.manual_seed(2)
    s, te = torch.randn(4, 5), torch.randn(4, 5)
    rows = HKDLoss(tau=4.0, reduction='none')(s, te)
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    got = HKDLoss(tau=4.0, loss_weight=2.0)(s, te, weight=mask, avg_factor=2)
    torch.testing.assert_close(got, 2.0 * (rows[0] + rows[2]) / 2)
    got_sum = HKDLoss(tau=4.0, reduction='sum')(s, te, weight=mask)
    torch.testing.assert_close(got_sum, rows[0] + rows[2])


def test_teacher_gets_no_gradient():
    s = torch.randn(3, 4, requires_grad=True)
    te = torch.randn(3, 4, requires_grad=True)
    HKDLoss(tau=2.0)(s, te, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None and te.grad is None


def test_reads_shared_tau_and_explicit_tau_wins():
    hub = MessageHub.get_instance('test_losses_hub')
    s, te = torch.randn(3, 4), torch.randn(3, 4)
    publish_temperature(6.0, hub)
    # outside a runner the current hub is the latest instance: use it explicitly via get_instance
    MessageHub._instance_dict.move_to_end('test_losses_hub')
    shared = HKDLoss()(s, te)
    torch.testing.assert_close(shared, HKDLoss(tau=6.0)(s, te))
    torch.testing.assert_close(HKDLoss(tau=2.0)(s, te), HKDLoss()(s, te, tau=2.0))
    assert not torch.allclose(HKDLoss(tau=2.0)(s, te), shared)


def test_missing_shared_tau_says_how_to_fix():
    MessageHub.get_instance('test_losses_empty_hub')
    MessageHub._instance_dict.move_to_end('test_losses_empty_hub')
    with pytest.raises(RuntimeError, match='TemperatureHook'):
        HKDLoss()(torch.randn(2, 3), torch.randn(2, 3))


def test_bad_inputs():
    with pytest.raises(ValueError, match='τ'):
        HKDLoss(tau=0.0)
    with pytest.raises(ValueError, match='one value per row'):
        HKDLoss()(torch.randn(3, 4), torch.randn(3, 4), tau=torch.ones(2))
    with pytest.raises(ValueError, match=r'\(N, C\)'):
        HKDLoss(tau=1.0)(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match='alpha'):
        HKDLoss(alpha=1.5)
    with pytest.raises(ValueError, match='reduction'):
        CMCLoss(reduction='avg')


def test_registered_in_mmengine_models():
    for name in ('HKDLoss', 'CMCLoss', 'DMLLoss'):
        assert MODELS.build(dict(type=name, tau=2.0)).tau == 2.0


@pytest.mark.parametrize('cls,cfg,weight', [(HKDLoss, dict(alpha=0.9), 0.1),
                                            (CMCLoss, dict(alpha=0.7), 0.3),
                                            (DMLLoss, dict(ce_weight=0.4), 0.4)])
def test_hard_label_weight_is_the_ce_weight_of_row_loss(cls, cfg, weight):
    """With labels, row_loss = soft term (no labels) + hard_label_weight · CE: the weight a
    caller with its own hard-label loss (the SSD distiller) uses."""
    loss = cls(tau=3.0, reduction='none', **cfg)
    assert loss.hard_label_weight == pytest.approx(weight)
    ce = torch.nn.functional.cross_entropy(t(S), torch.tensor(Y), reduction='none')
    torch.testing.assert_close(loss(t(S), t(T), torch.tensor(Y)),
                               loss(t(S), t(T)) + weight * ce)


def test_mmdet_models_builds_every_kd_loss_through_the_parent_registry():
    """mmdet's MODELS reaches mmengine's root MODELS: no re-registration in mmdet is needed."""
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401  (what detection configs import)
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import init_default_scope

    from mmkd_green.losses import KD_LOSSES
    for cls in KD_LOSSES:
        assert cls.__name__ not in MMDET_MODELS.module_dict
        assert type(MMDET_MODELS.build(dict(type=cls.__name__, tau=2.0))) is cls
    init_default_scope('mmdet')      # as inside an mmdet Runner
    for cls in KD_LOSSES:
        assert type(MODELS.build(dict(type=cls.__name__))) is cls
        assert type(MMDET_MODELS.build(dict(type=cls.__name__))) is cls


def test_tau_is_checked_on_the_host_and_never_read_back_from_the_device():
    """τ from the sampler (a number, or a host tensor per sample) is validated before it moves:
    with logits on the ``meta`` device (an accelerator stand-in whose values cannot be read)
    resolving it reads nothing back; bad values still raise."""
    from mmkd_green.losses.utils import resolve_tau
    logits = torch.zeros(4, 10, device='meta')
    tau = resolve_tau(None, 4.0, logits)
    assert tau.device.type == 'meta' and tau.shape == (1, 1)
    per_sample = resolve_tau(None, torch.tensor([2.0, 3.0, 4.0, 5.0]), logits)
    assert per_sample.device.type == 'meta' and per_sample.shape == (4, 1)
    for bad in (float('nan'), 0.0, -1, torch.tensor([2.0, float('inf'), 1.0, 1.0])):
        with pytest.raises(ValueError, match='finite and > 0'):
            resolve_tau(None, bad, logits)
    assert float(resolve_tau(None, np.float32(2.5), torch.zeros(2, 3))) == 2.5
