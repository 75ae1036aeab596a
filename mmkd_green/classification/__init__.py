"""Classification KD: CIFAR-style backbones, datasets, models and metrics (registers on import)."""
from . import backbones, datasets, metrics, models  # noqa: F401
from .backbones import CifarMobileNetV2, CifarResNet18, CifarShuffleNetV2, WideResNet  # noqa: F401
from .models import KDClassifier, PlainClassifier, QATClassifier  # noqa: F401
