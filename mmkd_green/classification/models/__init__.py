"""Classification models: a plain classifier (baselines), the KD classifier, the QAT baseline."""
from .classifier import PlainClassifier
from .kd_classifier import KDClassifier
from .qat_classifier import QATClassifier

__all__ = ['PlainClassifier', 'KDClassifier', 'QATClassifier']
