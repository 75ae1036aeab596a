"""Data-free KD (DeepInversion, CMI) on mmengine's Runner; registers synthesizers, the
``DataFreeDistiller`` model and the ``DataFreeTrainLoop`` on import."""
from . import synthesis  # noqa: F401
from .loop import DataFreeTrainLoop, SyntheticBatches
from .model import DataFreeDistiller
from .synthesis import (BaseSynthesizer, CMISynthesizer, DCGANGenerator,
                        DeepInversionSynthesizer, ImageBank)

__all__ = ['DataFreeDistiller', 'DataFreeTrainLoop', 'SyntheticBatches', 'BaseSynthesizer',
           'CMISynthesizer', 'DeepInversionSynthesizer', 'DCGANGenerator', 'ImageBank']
