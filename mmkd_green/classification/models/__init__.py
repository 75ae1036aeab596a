"""Classification models: a plain classifier (baselines) and the KD classifier."""
from .classifier import PlainClassifier
from .kd_classifier import KDClassifier

__all__ = ['PlainClassifier', 'KDClassifier']
