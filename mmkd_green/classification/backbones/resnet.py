"""ResNet-18 for small images (He et al., 2016), CIFAR variant.

A 3x3 stride-1 stem without max-pooling (so 32x32 inputs keep a 4x4 map in the last stage, and
64x64 Tiny-ImageNet inputs an 8x8 map), four stages of two basic blocks with widths
``c, 2c, 4c, 8c`` (``c = base_channels``, 64 in the original) and strides 1, 2, 2, 2, global
average pooling and a linear classifier. Each block computes

    y = relu(bn2(conv3x3(relu(bn1(conv3x3(x))))) + shortcut(x))

with a 1x1 conv + BN shortcut when the shape changes. 11.17 M parameters for 10 classes
(11.22 M for 100, 11.27 M for 200).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd_green.registry import MODELS


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


@MODELS.register_module()
class CifarResNet18(nn.Module):
    """ResNet-18 with a 3x3 stem; ``forward(x)`` returns logits ``(B, num_classes)``.

    Args:
        num_classes: output classes.
        base_channels: width of the first stage (64 = the standard model; 16 for CPU budgets).
        in_channels: input channels.
    """

    def __init__(self, num_classes: int = 10, base_channels: int = 64, in_channels: int = 3):
        super().__init__()
        if base_channels < 1:
            raise ValueError(f'CifarResNet18 base_channels must be >= 1, got {base_channels}')
        self.num_classes = num_classes
        c = base_channels
        self.conv1 = nn.Conv2d(in_channels, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        layers, in_ch = [], c
        for i, stride in enumerate((1, 2, 2, 2)):
            out_ch = c * 2 ** i
            layers.append(nn.Sequential(BasicBlock(in_ch, out_ch, stride),
                                        BasicBlock(out_ch, out_ch, 1)))
            in_ch = out_ch
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(in_ch, num_classes)
        self.out_channels = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))
