"""Metrics against hand-computed confusion matrices (no sklearn)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from mmkd_green.classification.metrics import (ClassificationMetric, cohen_kappa,
                                               confusion_matrix, per_class_stats, summarize)

# 3 classes, 10 samples
GT = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PRED = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
CM = np.array([[2, 1, 1],
               [1, 2, 0],
               [0, 1, 2]])


def test_confusion_matrix_by_hand():
    assert np.array_equal(confusion_matrix(GT, PRED, 3), CM)
    with pytest.raises(ValueError, match='num_classes'):
        confusion_matrix([0, 3], [0, 0], 3)


def test_statistics_by_hand():
    s = per_class_stats(CM)
    # class 0: TP 2, FP 1, FN 2, TN 5; class 1: TP 2, FP 2, FN 1, TN 5;
    # class 2: TP 2, FP 1, FN 1, TN 6
    assert np.allclose(s['precision'], [2 / 3, 2 / 4, 2 / 3])
    assert np.allclose(s['recall'], [2 / 4, 2 / 3, 2 / 3])
    assert np.allclose(s['specificity'], [5 / 6, 5 / 7, 6 / 7])
    assert np.allclose(s['prevalence'], [0.4, 0.3, 0.3])
    f1 = [2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3), 2 / 3]
    assert np.allclose(s['f1'], f1)
    # κ: p_o = 0.6, p_e = (4*3 + 3*4 + 3*3) / 100 = 0.33
    assert cohen_kappa(CM) == pytest.approx((0.6 - 0.33) / (1 - 0.33))
    out = summarize(CM)
    assert out['accuracy'] == pytest.approx(0.6)
    assert out['recall'] == pytest.approx(np.mean([0.5, 2 / 3, 2 / 3]))


def test_perfect_and_degenerate():
    eye = np.diag([3, 3])
    assert summarize(eye)['kappa'] == 1.0 and summarize(eye)['f1'] == 1.0
    only_one = np.array([[4, 0], [0, 0]])     # one class, always right: p_e = 1 → κ = 0
    assert summarize(only_one)['kappa'] == 0.0
    assert summarize(np.zeros((2, 2)))['accuracy'] == 0.0


def test_metric_with_data_samples_and_png(tmp_path):
    metric = ClassificationMetric(num_classes=3, out_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    samples = []
    for g, p in zip(GT, PRED):
        s = BaseDataElement(gt_label=torch.tensor(g), pred_label=torch.tensor(p))
        samples.append(s.to_dict())
    metric.process(None, samples[:4])
    metric.process(None, samples[4:])
    res = metric.evaluate(len(GT))
    assert res['cls/accuracy'] == pytest.approx(60.0)
    assert res['cls/kappa'] == pytest.approx(100 * 0.27 / 0.67, abs=1e-3)
    png = osp.join(str(tmp_path), 'confusion_matrix_0.png')
    assert open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    assert np.array_equal(np.array(__import__('json').load(
        open(osp.join(str(tmp_path), 'confusion_matrix_0.json')))['matrix']), CM)


def test_metric_scores_only():
    metric = ClassificationMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.save_confusion_matrix = False
    metric.process(None, [dict(gt_label=torch.tensor(1), pred_score=torch.tensor([0.2, 0.8]))])
    assert metric.evaluate(1)['cls/accuracy'] == 100.0
    with pytest.raises(KeyError, match='gt_label'):
        metric.process(None, [dict(pred_label=torch.tensor(1))])
