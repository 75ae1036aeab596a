"""FLOPs of real steps, including the grouped-convolution backward that torch's formula overcounts."""
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from mmkd_green.energy.flops import count_flops


def conv_forward_flops(c_in, c_out, groups, k, hw, batch):
    return 2 * batch * hw * hw * c_out * (c_in // groups) * k * k   # FLOPs = 2 x MACs


@pytest.mark.parametrize('groups', [1, 4, 64])
def test_conv_train_step_is_three_times_forward(groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3, padding=1, groups=groups, bias=False)
    x = torch.randn(2, 64, 8, 8, requires_grad=True)
    fwd = conv_forward_flops(64, 64, groups, 3, 8, 2)
    _, counted_fwd = count_flops(conv, x)
    assert counted_fwd == fwd
    _, counted_step = count_flops(lambda: conv(x).sum().backward())
    assert counted_step == 3 * fwd       # forward + grad input + grad weight


def test_first_layer_without_input_grad_counts_weight_grad_only():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(1, 3, 8, 8)
    _, counted = count_flops(lambda: conv(x).sum().backward())
    assert counted == 2 * conv_forward_flops(3, 8, 1, 3, 8, 1)


def test_dense_conv_agrees_with_torch_stock_formula():
    conv = nn.Conv2d(16, 32, 3, padding=1)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    with FlopCounterMode(display=False) as stock:
        conv(x).sum().backward()
    _, ours = count_flops(lambda: conv(x).sum().backward())
    assert ours == stock.get_total_flops()
