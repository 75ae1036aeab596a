"""MobileNetV2 for small images (Sandler et al., 2018), CIFAR variant.

Inverted residual blocks ``(t, c, n, s)`` = (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2)
(6,96,3,1) (6,160,3,2) (6,320,1,1): the ImageNet table with the stem and the second stage at
stride 1 (32x32 inputs end at 4x4). Each block computes

    y = bn(pw_linear(relu6(bn(dw3x3(relu6(bn(pw_expand(x))))))))  (+ x when stride 1, c_in = c_out)

then a 1x1 conv to 1280 channels, BN-ReLU6, global average pooling and a linear classifier.
Channels scale by ``widen_factor`` (rounded to multiples of 8). 2.24 M parameters for 10 classes
(2.35 M for 100, 2.48 M for 200). Plain modules only (Conv2d, BatchNorm2d, ReLU6, ``+``), so
torch.ao's FX quantization-aware training traces it as is.
"""
import torch
import torch.nn as nn

from mmkd_green.registry import MODELS

_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` without going 10 % below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_act(in_ch, out_ch, kernel, stride=1, groups=1, act=True) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_ch)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        layers = [] if expand_ratio == 1 else [conv_bn_act(in_ch, hidden, 1)]
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                   conv_bn_act(hidden, out_ch, 1, act=False)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


@MODELS.register_module()
class CifarMobileNetV2(nn.Module):
    """MobileNetV2 with stride-1 stem; ``forward(x)`` returns logits ``(B, num_classes)``.

    Args:
        num_classes: output classes.
        widen_factor: channel multiplier (1.0 = the standard model).
        last_channels: width of the final 1x1 conv (1280, kept when ``widen_factor < 1``).
        dropout: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 10, widen_factor: float = 1.0,
                 last_channels: int = 1280, dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        if widen_factor <= 0:
            raise ValueError(f'CifarMobileNetV2 widen_factor must be > 0, got {widen_factor}')
        self.num_classes = num_classes
        in_ch = make_divisible(32 * widen_factor)
        last = make_divisible(last_channels * max(1.0, widen_factor))
        layers = [conv_bn_act(in_channels, in_ch, 3, 1)]
        for t, c, n, s in _SETTINGS:
            out_ch = make_divisible(c * widen_factor)
            for i in range(n):
                layers.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        layers.append(conv_bn_act(in_ch, last, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(last, num_classes)
        self.out_channels = last
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out')
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))
