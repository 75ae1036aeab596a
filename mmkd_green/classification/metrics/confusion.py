"""Confusion-matrix statistics (no sklearn), as reported in the paper's Table 5.

``cm[i, j]`` counts samples of true class ``i`` predicted as ``j``; ``N = Σ cm``. Per class k:
``TP = cm[k, k]``, ``FP = Σ_i cm[i, k] − TP``, ``FN = Σ_j cm[k, j] − TP``,
``TN = N − TP − FP − FN``, and

    precision_k   = TP / (TP + FP)          recall_k (sensitivity) = TP / (TP + FN)
    specificity_k = TN / (TN + FP)          F1_k = 2 · P_k · R_k / (P_k + R_k)
    prevalence_k  = (TP + FN) / N

(0 when a denominator is 0). Macro values average over the classes; accuracy = trace / N and
Cohen's κ = (p_o − p_e) / (1 − p_e) with p_o = accuracy, p_e = Σ_k rowsum_k · colsum_k / N²
(κ = 0 when p_e = 1).
"""
from typing import Dict, Sequence

import numpy as np


def confusion_matrix(gt: Sequence[int], pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts; rows are true classes, columns predictions."""
    gt, pred = np.asarray(gt, dtype=np.int64).ravel(), np.asarray(pred, dtype=np.int64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f'{gt.size} labels but {pred.size} predictions')
    for name, a in (('labels', gt), ('predictions', pred)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f'{name} must lie in [0, {num_classes}), got [{a.min()}, {a.max()}]; '
                             f'check `num_classes` of the metric and the model')
    return np.bincount(gt * num_classes + pred,
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def per_class_stats(cm: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class ``precision, recall, specificity, f1, prevalence`` arrays of length C."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    tn = n - tp - fp - fn
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    return dict(precision=precision, recall=recall, specificity=_div(tn, tn + fp),
                f1=_div(2 * precision * recall, precision + recall),
                prevalence=_div(tp + fn, np.full_like(tp, n)))


def cohen_kappa(cm: np.ndarray) -> float:
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    if n == 0:
        return 0.0
    p_o = np.trace(cm) / n
    p_e = float((cm.sum(1) * cm.sum(0)).sum() / n ** 2)
    return 0.0 if p_e >= 1.0 else float((p_o - p_e) / (1.0 - p_e))


def summarize(cm: np.ndarray) -> Dict[str, float]:
    """accuracy, macro precision / recall / specificity / f1 / prevalence, kappa (fractions)."""
    cm = np.asarray(cm)
    n = cm.sum()
    out = dict(accuracy=float(np.trace(cm) / n) if n else 0.0)
    out.update({k: float(v.mean()) for k, v in per_class_stats(cm).items()})
    out['kappa'] = cohen_kappa(cm)
    return out
