import pytest
import torch
import torch.nn as nn

from mmkd_green.classification.backbones import WideResNet
from mmkd_green.registry import MODELS


@pytest.mark.parametrize('depth,k,params', [(16, 1, 0.175), (40, 2, 2.244)])
def test_wrn_shape_and_params(depth, k, params):
    m = MODELS.build(dict(type='WideResNet', depth=depth, widen_factor=k, num_classes=10))
    if depth == 16:
        assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert abs(sum(p.numel() for p in m.parameters()) / 1e6 - params) < 0.002
    assert all(type(b) is nn.BatchNorm2d for b in m.modules()
               if isinstance(b, nn.modules.batchnorm._BatchNorm))


def test_wrn_bad_depth():
    with pytest.raises(ValueError, match='6n\\+4'):
        WideResNet(depth=15)
