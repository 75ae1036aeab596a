"""Memory layout and precision settings that decide which kernels a GPU runs."""
import pytest
import torch
import torch.nn as nn

from mmkd_green.classification.backbones.shufflenetv2 import CifarShuffleNetV2, channel_shuffle


def test_channel_shuffle_keeps_values_and_channels_last():
    x = torch.randn(2, 8, 5, 3)
    ref = channel_shuffle(x)
    assert torch.equal(ref[:, 1], x[:, 4]) and torch.equal(ref[:, 2], x[:, 1])
    nhwc = channel_shuffle(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(nhwc, ref) and nhwc.is_contiguous(memory_format=torch.channels_last)


def test_every_shufflenet_conv_sees_nhwc_inputs_in_channels_last():
    net = CifarShuffleNetV2(widen_factor=0.5).eval().to(memory_format=torch.channels_last)
    layouts = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_pre_hook(lambda mod, inp: layouts.append(
                inp[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        net(torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    assert len(layouts) == 56 and all(layouts), f'{layouts.count(False)} of 56 convs see NCHW'


def test_cpu_autocast_wrapper_refuses_a_model_on_an_accelerator():
    """``CPUAutocastOptimWrapper`` on a GPU model would silently train fp32 (``meta`` stands in
    for the GPU)."""
    from mmkd_green.utils.cpu_autocast import CPUAutocastOptimWrapper, cpu_bf16_supported
    if not cpu_bf16_supported():
        pytest.skip('needs a CPU with native bf16 (avx512_bf16 / AMX)')
    model = nn.Linear(2, 2)
    wrapper = CPUAutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        assert torch.is_autocast_cpu_enabled()
    with pytest.raises(RuntimeError, match='AmpOptimWrapper'):
        with wrapper.optim_context(model.to('meta')):
            pass
