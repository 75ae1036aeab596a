"""Closed-form checks of the loss options added for the τ study: HKD with the authors' element-
mean KL, and CMC in logit space (the paper's text)."""
import numpy as np
import pytest
import torch

from mmkd_green.losses import CMCLoss, HKDLoss

S = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, -1.0, 3.0, 0.5]])
T = np.array([[2.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, -2.0]])
Y = np.array([1, 2])


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ce():
    return -np.log(_softmax(S)[np.arange(2), Y])


@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_hkd_element_normalisation_is_kl_over_classes(tau):
    ps, pt = _softmax(S / tau), _softmax(T / tau)
    kl = (pt * (np.log(pt) - np.log(ps))).sum(-1)
    alpha, c = 0.9, S.shape[1]
    expect = alpha * tau ** 2 * kl / c + (1 - alpha) * _ce()
    loss = HKDLoss(alpha=alpha, kl_normalization='element', reduction='none')
    got = loss(torch.tensor(S), torch.tensor(T), torch.tensor(Y), tau=tau)
    assert got.numpy() == pytest.approx(expect, rel=1e-6)
    # the authors' nn.KLDivLoss() (mean over all N*C elements) gives the same soft term
    soft = torch.nn.KLDivLoss()(torch.log_softmax(torch.tensor(S) / tau, -1),
                                torch.softmax(torch.tensor(T) / tau, -1))
    mean_soft = HKDLoss(alpha=1.0, kl_normalization='element')(
        torch.tensor(S), torch.tensor(T), tau=tau)
    assert float(mean_soft) == pytest.approx(tau ** 2 * float(soft), rel=1e-6)
    with pytest.raises(ValueError, match="'batch'"):
        HKDLoss(kl_normalization='mean')


@pytest.mark.parametrize('tau', [1.0, 3.0])
def test_cmc_logit_space(tau):
    alpha = 0.8
    expect = alpha * (((S - T) / tau) ** 2).mean(-1) + (1 - alpha) * _ce()
    loss = CMCLoss(alpha=alpha, space='logit', reduction='none')
    s = torch.tensor(S, requires_grad=True)
    got = loss(s, torch.tensor(T), torch.tensor(Y), tau=tau)
    assert got.detach().numpy() == pytest.approx(expect, rel=1e-6)
    # soft-term gradient 2α(s − t)/(Cτ²)
    CMCLoss(alpha=alpha, space='logit', reduction='sum')(s, torch.tensor(T), tau=tau).backward()
    assert s.grad.numpy() == pytest.approx(2 * alpha * (S - T) / (S.shape[1] * tau ** 2),
                                           rel=1e-6)
    with pytest.raises(ValueError, match="'prob' or 'logit'"):
        CMCLoss(space='logits')


@pytest.mark.parametrize('alpha', [-0.1, 1.5, float('nan'), True, 'high', None])
def test_alpha_outside_unit_interval_is_refused_naming_the_loss(alpha):
    from mmkd_green.losses import BgWeightedSoftCELoss
    for cls in (HKDLoss, CMCLoss, BgWeightedSoftCELoss):
        with pytest.raises(ValueError, match=rf'{cls.__name__}: `alpha` must lie in \[0, 1\]'):
            cls(alpha=alpha)
    assert HKDLoss(alpha=1).hard_label_weight == 0.0 and CMCLoss(alpha=0).alpha == 0.0
