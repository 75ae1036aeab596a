"""Data-free image synthesizers (one interface: ``synthesize()`` into a bank, ``sample()``)."""
from .bank import ImageBank
from .base import CIFAR10_MEAN, CIFAR10_STD, BaseSynthesizer
from .bn_hooks import BNHooks, bn_statistics_loss
from .cmi import CMISynthesizer
from .deepinversion import DeepInversionSynthesizer
from .generator import DCGANGenerator
from .memory_bank import FeatureBank

__all__ = ['BaseSynthesizer', 'DeepInversionSynthesizer', 'CMISynthesizer', 'DCGANGenerator',
           'ImageBank', 'FeatureBank', 'BNHooks', 'bn_statistics_loss', 'CIFAR10_MEAN',
           'CIFAR10_STD']
