"""ShuffleNetV2 for small images (Ma et al., 2018), CIFAR variant.

A 3x3 stride-1 stem without max-pooling, three stages of (4, 8, 4) units, a 1x1 conv, global
average pooling and a linear classifier. A stride-1 unit splits the channels in two halves
``(a, b)`` and computes ``shuffle(cat(a, branch(b)))`` with
``branch = relu(bn(pw(bn(dw3x3(relu(bn(pw(.))))))))``; a stride-2 unit concatenates a strided
depthwise+pointwise copy of the input with ``branch(x)`` (doubling the channels). ``shuffle``
interleaves the two groups. Stage widths for ``widen_factor`` 0.5 / 1.0 / 1.5 / 2.0:
(48, 96, 192) / (116, 232, 464) / (176, 352, 704) / (244, 488, 976), last conv 1024 (2048 for 2.0).
1.26 M parameters for 10 classes at 1.0 (1.35 M for 100, 1.46 M for 200).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd_green.registry import MODELS

_WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024),
           2.0: (244, 488, 976, 2048)}


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """``out[:, k·g + j] = x[:, j·(C/g) + k]`` (interleave the ``g`` groups), in ``x``'s memory
    format: a channels-last input is shuffled in its NHWC view, so the next convolution gets
    NHWC again (an NCHW result would make oneDNN/cuDNN reorder it for every unit)."""
    b, c, h, w = x.shape
    if c > 1 and h * w > 1 and x.is_contiguous(memory_format=torch.channels_last) \
            and not x.is_contiguous():
        nhwc = x.permute(0, 2, 3, 1)
        out = nhwc.reshape(b, h, w, groups, c // groups).transpose(3, 4).reshape(b, h, w, c)
        return out.permute(0, 3, 1, 2)
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _branch(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, stride, 1, groups=out_ch, bias=False), nn.BatchNorm2d(out_ch),
        nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class ShuffleUnit(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        half = out_ch // 2
        if stride == 1:
            if in_ch != out_ch:
                raise ValueError('a stride-1 ShuffleNetV2 unit keeps the channel count')
            self.shortcut = None
            self.branch = _branch(half, half, 1)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False),
                nn.BatchNorm2d(in_ch),
                nn.Conv2d(in_ch, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))
            self.branch = _branch(in_ch, half, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
                b = b.contiguous(memory_format=torch.channels_last)   # a channel slice: strided
            out = torch.cat([a, self.branch(b)], 1)
        else:
            out = torch.cat([self.shortcut(x), self.branch(x)], 1)
        return channel_shuffle(out, 2)


@MODELS.register_module()
class CifarShuffleNetV2(nn.Module):
    """ShuffleNetV2 with a 3x3 stride-1 stem; ``forward(x)`` returns logits.

    Args:
        num_classes: output classes.
        widen_factor: one of 0.5, 1.0, 1.5, 2.0.
    """

    def __init__(self, num_classes: int = 10, widen_factor: float = 1.0, in_channels: int = 3):
        super().__init__()
        if float(widen_factor) not in _WIDTHS:
            raise ValueError(f'CifarShuffleNetV2 widen_factor must be one of {sorted(_WIDTHS)}, '
                             f'got {widen_factor}')
        self.num_classes = num_classes
        *stage_ch, last = _WIDTHS[float(widen_factor)]
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 24, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(24), nn.ReLU(inplace=True))
        stages, in_ch = [], 24
        for out_ch, n in zip(stage_ch, (4, 8, 4)):
            units = [ShuffleUnit(in_ch, out_ch, 2)]
            units += [ShuffleUnit(out_ch, out_ch, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            in_ch = out_ch
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(in_ch, last, 1, bias=False), nn.BatchNorm2d(last),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)
        self.out_channels = last

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.stage4(self.stage3(self.stage2(self.conv1(x)))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))
