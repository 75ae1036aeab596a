"""Classification models: a plain classifier (baselines), the KD classifier, the QAT baseline."""
from .classifier import PlainClassifier
from .data_preprocessor import ClsDataPreprocessor
from .kd_classifier import KDClassifier
from .qat_classifier import QATClassifier

__all__ = ['ClsDataPreprocessor', 'PlainClassifier', 'KDClassifier', 'QATClassifier']
