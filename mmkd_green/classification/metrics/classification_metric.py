"""mmengine metric for classification: accuracy, macro statistics, Cohen's κ, confusion matrix.

The model's ``predict`` gives data samples with ``gt_label`` and ``pred_label`` (or
``pred_score``); the statistics (formulas in :mod:`.confusion`) are computed on the whole
validation set's confusion matrix and reported in percent (``cls/accuracy``, ``cls/precision``,
``cls/recall``, ``cls/specificity``, ``cls/f1``, ``cls/prevalence``, ``cls/kappa`` ×100).
The matrix is drawn as a PNG (the paper's Fig. 4c): into ``out_dir`` when set
(``confusion_matrix_<n>.png`` and ``.json``), else through the runner's visualizer
(``add_image('confusion_matrix', ...)``: ``<work_dir>/<timestamp>/vis_data/vis_image/`` with
``LocalVisBackend``).
"""
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmkd_green.registry import METRICS
from .confusion import confusion_matrix, summarize


def _as_int(x) -> int:
    return int(x.reshape(()).item()) if hasattr(x, 'reshape') else int(x)


def plot_confusion_matrix(cm: np.ndarray, classes: Optional[Sequence[str]] = None,
                          normalize: bool = True, title: str = 'Confusion matrix') -> np.ndarray:
    """Render ``cm`` (rows true, columns predicted) to an RGB ``uint8`` image array."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.float64)
    c = cm.shape[0]
    show = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    size = min(4 + 0.45 * c, 24)
    fig = Figure(figsize=(size, size), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    im = ax.imshow(show, cmap='Blues', vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(title)
    if c <= 30:
        names = list(classes) if classes is not None and len(classes) == c else list(range(c))
        ax.set_xticks(range(c), [str(n) for n in names], rotation=90, fontsize=7)
        ax.set_yticks(range(c), [str(n) for n in names], fontsize=7)
    if c <= 12:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, f'{int(cm[i, j])}', ha='center', va='center', fontsize=7,
                        color='white' if show[i, j] > 0.5 * (show.max() or 1) else 'black')
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


@METRICS.register_module()
class ClassificationMetric(BaseMetric):
    """Accuracy, macro precision / recall / specificity / F1 / prevalence, Cohen's κ.

    Args:
        num_classes (int, optional): defaults to ``len(dataset_meta['classes'])``.
        out_dir (str, optional): write ``confusion_matrix_<n>.png`` / ``.json`` here.
        save_confusion_matrix (bool): draw the PNG at all.
        prefix (str): key prefix, ``'cls'``.
    """

    default_prefix = 'cls'

    def __init__(self, num_classes: Optional[int] = None, out_dir: Optional[str] = None,
                 save_confusion_matrix: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes, self.out_dir = num_classes, out_dir
        self.save_confusion_matrix = save_confusion_matrix
        self._calls = 0
        self.last_confusion_matrix: Optional[np.ndarray] = None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            if 'gt_label' not in s or ('pred_label' not in s and 'pred_score' not in s):
                raise KeyError('ClassificationMetric needs `gt_label` and `pred_label` (or '
                               '`pred_score`) in each data sample; use PlainClassifier / '
                               'KDClassifier and end the pipeline with PackClsInputs')
            pred = s['pred_label'] if 'pred_label' in s else s['pred_score'].argmax()
            self.results.append((_as_int(s['gt_label']), _as_int(pred)))

    def _num_classes(self) -> int:
        if self.num_classes is not None:
            return int(self.num_classes)
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError('ClassificationMetric: set `num_classes` (the dataset gives no '
                             '`classes` metainfo)')
        return len(classes)

    def compute_metrics(self, results: list) -> dict:
        c = self._num_classes()
        gt, pred = zip(*results) if results else ((), ())
        cm = confusion_matrix(gt, pred, c)
        self.last_confusion_matrix = cm
        metrics = {k: round(100.0 * v, 4) for k, v in summarize(cm).items()}
        if self.save_confusion_matrix:
            try:
                self._save(cm)
            except Exception as e:   # a plotting problem must not lose the metrics
                MMLogger.get_current_instance().warning(f'confusion matrix not saved: {e!r}')
        self._calls += 1
        return metrics

    def _save(self, cm: np.ndarray) -> None:
        classes = (self.dataset_meta or {}).get('classes')
        img = plot_confusion_matrix(cm, classes)
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
            stem = osp.join(self.out_dir, f'confusion_matrix_{self._calls}')
            from PIL import Image
            Image.fromarray(img).save(stem + '.png')
            with open(stem + '.json', 'w') as f:
                json.dump(dict(classes=list(classes) if classes else None,
                               matrix=cm.tolist()), f)
            return
        from mmengine.visualization import Visualizer
        try:
            vis = Visualizer.get_current_instance()
        except RuntimeError:   # no runner / visualizer: nothing to draw into
            MMLogger.get_current_instance().info(
                'ClassificationMetric: no visualizer and no `out_dir`; confusion matrix not saved')
            return
        vis.add_image('confusion_matrix', img, step=self._calls)
