"""Classification metrics (confusion-matrix statistics) registered in METRICS."""
from .classification_metric import ClassificationMetric, plot_confusion_matrix
from .confusion import cohen_kappa, confusion_matrix, per_class_stats, summarize

__all__ = ['ClassificationMetric', 'plot_confusion_matrix', 'confusion_matrix',
           'per_class_stats', 'cohen_kappa', 'summarize']
