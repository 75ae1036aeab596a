"""CIFAR-style backbones (3x3 stem) returning logits, registered in MODELS."""
from .wrn import WideResNet

__all__ = ['WideResNet']
