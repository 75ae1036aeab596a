"""Classification KD: CIFAR-style backbones, datasets, models and metrics (registers on import)."""
from . import backbones  # noqa: F401
from .backbones import WideResNet  # noqa: F401
