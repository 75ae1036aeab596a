"""Chen et al. (2017) soft cross-entropy with a background weight, against numpy by hand."""
import numpy as np
import pytest
import torch

from mmkd_green.losses import BgWeightedSoftCELoss, HKDLoss
from mmkd_green.registry import MODELS

S = np.array([[1.0, 2.0, 0.5, -0.5], [0.0, -1.0, 3.0, 1.0], [0.3, 0.3, 0.3, 2.0]])
T = np.array([[2.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [-1.0, 0.5, 0.0, 4.0]])
Y = np.array([1, 2, 3])   # 3 = background (last column, as in mmdet's SSD head)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def hand(tau, alpha, bg_weight, tau_squared=True, labels=True):
    ps, pt = softmax(S / tau), softmax(T / tau)
    w = np.array([1.0, 1.0, 1.0, bg_weight])
    soft = -(w * pt * np.log(ps)).sum(-1) * (tau ** 2 if tau_squared else 1.0)
    ce = -np.log(softmax(S)[np.arange(3), Y])
    return alpha * soft + ((1 - alpha) * ce if labels else 0.0)


def t(a):
    return torch.tensor(a, dtype=torch.float64)


@pytest.mark.parametrize('tau', [1.0, 3.0, 12.0])
@pytest.mark.parametrize('bg_weight', [1.0, 1.5])
def test_rows_match_hand_computation(tau, bg_weight):
    loss = BgWeightedSoftCELoss(alpha=0.5, bg_weight=bg_weight, tau=tau, reduction='none')
    got = loss(t(S), t(T), labels=torch.tensor(Y)).numpy()
    np.testing.assert_allclose(got, hand(tau, 0.5, bg_weight), rtol=1e-10)
    soft_only = loss(t(S), t(T)).numpy()
    np.testing.assert_allclose(soft_only, hand(tau, 0.5, bg_weight, labels=False), rtol=1e-10)


def test_chen_exact_term_and_mean_with_avg_factor():
    loss = BgWeightedSoftCELoss(alpha=0.5, bg_weight=1.5, tau_squared=False, tau=2.0)
    got = float(loss(t(S), t(T), avg_factor=2.0))
    assert got == pytest.approx(hand(2.0, 0.5, 1.5, tau_squared=False, labels=False).sum() / 2.0)


def test_background_weight_one_has_hkd_gradient():
    """bg_weight=1: soft CE = KL + teacher entropy, so the student gradient is HKD's."""
    grads = []
    for loss in (BgWeightedSoftCELoss(alpha=0.7, bg_weight=1.0, tau=5.0),
                 HKDLoss(alpha=0.7, tau=5.0)):
        s = t(S).requires_grad_(True)
        loss(s, t(T)).backward()
        grads.append(s.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_background_column_and_bad_arguments():
    loss = BgWeightedSoftCELoss(bg_index=0, bg_weight=2.0, tau=1.0)
    assert loss.class_weights(4, t([0.0])).tolist() == [2.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match='bg_index 7'):
        BgWeightedSoftCELoss(bg_index=7, tau=1.0)(t(S), t(T))
    with pytest.raises(ValueError, match='alpha'):
        BgWeightedSoftCELoss(alpha=1.5)
    with pytest.raises(ValueError, match='bg_weight'):
        BgWeightedSoftCELoss(bg_weight=-1)
    assert isinstance(MODELS.build(dict(type='BgWeightedSoftCELoss')), BgWeightedSoftCELoss)
