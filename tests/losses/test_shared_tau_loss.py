"""SharedTemperatureLoss: the wrapped loss computes with the run's τ of the current iteration."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub

from mmkd_green.losses import SharedTemperatureLoss
from mmkd_green.temperature import publish_temperature


class ThirdPartyKD(nn.Module):
    """A loss as third-party code writes them: temperature in an attribute, own checks."""

    def __init__(self, temperature=4.0):
        super().__init__()
        assert temperature >= 1
        self.temperature = temperature
        self.use_sigmoid = False

    def forward(self, s, t):
        tau = self.temperature
        return F.kl_div(F.log_softmax(s / tau, -1), F.softmax(t / tau, -1),
                        reduction='batchmean') * tau ** 2


@pytest.fixture
def hub():
    return MessageHub.get_instance('test_shared_tau_loss')


def test_wrapped_loss_gets_the_published_tau(hub):
    s, t = torch.randn(5, 4), torch.randn(5, 4)
    wrapped = SharedTemperatureLoss(ThirdPartyKD())
    assert wrapped.attr == 'temperature' and wrapped.use_sigmoid is False
    for tau in (2.0, 7.5, 19.0):
        publish_temperature(tau, hub)
        got = wrapped(s, t)
        assert wrapped.loss.temperature == tau == wrapped.last_tau
        torch.testing.assert_close(got, ThirdPartyKD(tau)(s, t))


def test_min_tau_error_and_clip(hub):
    publish_temperature(0.5, hub)
    wrapped = SharedTemperatureLoss(ThirdPartyKD(), min_tau=1)
    with pytest.raises(ValueError, match=r'temperature >= 1.*temperature.low=1'):
        wrapped(torch.zeros(1, 3), torch.zeros(1, 3))
    clipped = SharedTemperatureLoss(ThirdPartyKD(), min_tau=1, below_min='clip')
    clipped(torch.zeros(1, 3), torch.zeros(1, 3))
    assert clipped.loss.temperature == 1.0


def test_per_sample_tau_refused(hub):
    publish_temperature(torch.tensor([2.0, 3.0]), hub)
    with pytest.raises(ValueError, match='per-sample'):
        SharedTemperatureLoss(ThirdPartyKD())(torch.zeros(2, 3), torch.zeros(2, 3))


def test_attribute_detection_errors():
    with pytest.raises(ValueError, match="attr="):
        SharedTemperatureLoss(nn.MSELoss())
    with pytest.raises(ValueError, match="no attribute 'T'"):
        SharedTemperatureLoss(ThirdPartyKD(), attr='T')
    with pytest.raises(ValueError, match='below_min'):
        SharedTemperatureLoss(ThirdPartyKD(), below_min='ignore')


def test_mmdet_kl_loss_gets_its_t_ge_1_bound(hub):
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401  (registers the wrapper in mmdet's MODELS)
    from mmdet.registry import MODELS
    wrapped = MODELS.build(dict(type='SharedTemperatureLoss',
                                loss=dict(type='mmdet.KnowledgeDistillationKLDivLoss', T=10)))
    assert (wrapped.attr, wrapped.min_tau) == ('T', 1.0)
    s, t = torch.randn(6, 5), torch.randn(6, 5)
    publish_temperature(3.0, hub)
    ref = MODELS.build(dict(type='mmdet.KnowledgeDistillationKLDivLoss', T=3))
    torch.testing.assert_close(wrapped(s, t), ref(s, t))
    publish_temperature(0.9, hub)
    with pytest.raises(ValueError, match='T >= 1'):
        wrapped(s, t)
