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


def _stock_total(fn):
    """torch's FlopCounterMode with the same groups-aware convolution backward formula."""
    from mmkd_green.energy.flops import conv_backward_flop
    with FlopCounterMode(display=False, custom_mapping={
            torch.ops.aten.convolution_backward: conv_backward_flop}) as stock:
        fn()
    return stock.get_total_flops()


@pytest.mark.parametrize('name', ['mobilenet_v2', 'attention'])
def test_lean_counter_equals_flopcountermode_on_a_train_step(name):
    """The lean counter sums exactly what FlopCounterMode sums: depthwise/pointwise convs, BN,
    linear (MobileNetV2), and bmm / scaled-dot-product attention / layer norm (a transformer
    layer), forward and backward."""
    torch.manual_seed(0)
    if name == 'mobilenet_v2':
        from torchvision.models import mobilenet_v2
        model, x = mobilenet_v2(num_classes=10, width_mult=0.35), torch.randn(2, 3, 32, 32)
    else:
        model = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        x = torch.randn(2, 7, 32)

    def step():
        model.zero_grad()
        model(x).float().pow(2).mean().backward()

    _, ours = count_flops(step)
    assert ours > 0
    assert ours == _stock_total(step)


def test_lean_counter_equals_flopcountermode_under_inference_mode():
    """Under inference_mode composite ops (e.g. linear) reach the counter undecomposed: it must
    decompose them as FlopCounterMode does, so the matmuls inside are counted."""
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))
    x = torch.randn(5, 16)

    def infer():
        with torch.inference_mode():
            model(x)

    _, ours = count_flops(infer)
    assert ours == _stock_total(infer) == 2 * 5 * (16 * 32 + 32 * 4)
