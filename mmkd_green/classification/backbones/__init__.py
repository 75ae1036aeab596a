"""CIFAR-style backbones (3x3 stem, for 32x32 and 64x64 inputs) returning logits, in MODELS."""
from .mobilenetv2 import CifarMobileNetV2
from .resnet import CifarResNet18
from .shufflenetv2 import CifarShuffleNetV2
from .wrn import WideResNet

__all__ = ['WideResNet', 'CifarResNet18', 'CifarMobileNetV2', 'CifarShuffleNetV2']
