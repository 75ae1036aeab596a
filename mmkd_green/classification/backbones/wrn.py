"""Wide Residual Network for 32x32 inputs (Zagoruyko & Komodakis, BMVC 2016), CIFAR variant.

WRN-d-k: depth ``d = 6n + 4`` (n pre-activation basic blocks per stage), widths
``[16, 16k, 32k, 64k]``; a 3x3 stem, three stages (strides 1, 2, 2), BN-ReLU, global average
pooling and a linear classifier. Each block computes

    y = conv3x3(relu(bn2(conv3x3(relu(bn1(x)))))) + shortcut(x)

with a 1x1 convolution shortcut when the shape changes (dropout, if any, between the two convs).
Parameter counts (10 classes): WRN-16-1 0.18 M, WRN-16-2 0.69 M, WRN-40-1 0.57 M, WRN-40-2 2.24 M.
All normalisation layers are plain ``nn.BatchNorm2d`` (DeepInversion hooks them).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd_green.registry import MODELS


class WideBasicBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3 + shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.equal = in_ch == out_ch and stride == 1
        self.shortcut = None if self.equal else nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.dropout > 0:
            y = F.dropout(y, p=self.dropout, training=self.training)
        y = self.conv2(y)
        # the projection shortcut reads the pre-activated input, as in the reference design
        return y + (x if self.equal else self.shortcut(o))


@MODELS.register_module()
class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` returning logits ``(B, num_classes)``.

    Args:
        depth: total depth, ``6n + 4`` (16, 22, 28, 40, ...).
        widen_factor: width multiplier k.
        num_classes: output classes.
        dropout: dropout probability inside each block.
        in_channels: input channels (3 for RGB).
    """

    def __init__(self, depth: int = 16, widen_factor: int = 1, num_classes: int = 10,
                 dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f'WideResNet depth must be 6n+4 (10, 16, 22, 28, 40, ...), '
                             f'got {depth}')
        if widen_factor < 1:
            raise ValueError(f'WideResNet widen_factor must be >= 1, got {widen_factor}')
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.depth, self.widen_factor, self.num_classes = depth, widen_factor, num_classes
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        stages = []
        in_ch = widths[0]
        for i, stride in enumerate((1, 2, 2)):
            blocks = []
            for j in range(n):
                blocks.append(WideBasicBlock(in_ch, widths[i + 1], stride if j == 0 else 1,
                                             dropout))
                in_ch = widths[i + 1]
            stages.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(in_ch)
        self.fc = nn.Linear(in_ch, num_classes)
        self.out_channels = in_ch
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector ``(B, 64k)`` before the classifier."""
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))
