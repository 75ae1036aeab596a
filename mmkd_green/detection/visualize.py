"""A picture of a detector's output: test images with ground truth (top row) and predictions
(bottom row), as one PNG (matplotlib, Agg)::

    from mmkd_green.detection.visualize import save_detection_figure
    save_detection_figure(cfg, 'student.pth', 'detections.png', num_images=4, score_thr=0.3)

``cfg`` is a detector config (e.g. the student's); the images and their ground truth come from its
``test_dataloader`` (original pixel coordinates, read from the annotation files), the boxes from
``model.test_step`` (rescaled to the original image, as the VOC metric sees them).
"""
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

COLORS = ('#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6',
          '#bfef45', '#469990', '#9a6324')


def predict_images(cfg, checkpoint: str, indices: Sequence[int]) -> List[dict]:
    """``[{'img_path', 'gt_bboxes', 'gt_labels', 'bboxes', 'scores', 'labels'}]`` (numpy) for
    the test-set images at ``indices``; ``classes`` of the dataset in every dict."""
    import torch
    from mmdet.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = tuple(dataset.metainfo['classes'])
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    out = []
    for i in indices:
        info = dataset.get_data_info(i)
        with torch.no_grad():
            pred = model.test_step(pseudo_collate([dataset[i]]))[0].pred_instances
        inst = [x for x in info.get('instances', []) if not x.get('ignore_flag', 0)]
        out.append(dict(
            img_path=info['img_path'], classes=classes,
            gt_bboxes=np.array([x['bbox'] for x in inst], dtype=np.float32).reshape(-1, 4),
            gt_labels=np.array([x['bbox_label'] for x in inst], dtype=np.int64),
            bboxes=pred.bboxes.cpu().numpy(), scores=pred.scores.cpu().numpy(),
            labels=pred.labels.cpu().numpy()))
    return out


def draw_gt_vs_pred(samples: List[dict], out_png: str, score_thr: float = 0.3,
                    title: Optional[str] = None, pred_name: str = 'prediction') -> str:
    """Two rows (ground truth, predictions with score >= ``score_thr``), one column per image."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt
    from mmcv import imread
    n = len(samples)
    if n == 0:
        raise ValueError('draw_gt_vs_pred: no images')
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 5.0), squeeze=False)
    for col, s in enumerate(samples):
        img = imread(s['img_path'], channel_order='rgb')
        keep = s['scores'] >= score_thr
        rows = [(s['gt_bboxes'], s['gt_labels'], None, 'ground truth'),
                (s['bboxes'][keep], s['labels'][keep], s['scores'][keep],
                 f'{pred_name} (score ≥ {score_thr:g})')]
        for row, (boxes, labels, scores, name) in enumerate(rows):
            ax = axes[row][col]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
            for j, (box, label) in enumerate(zip(boxes, labels)):
                color = COLORS[int(label) % len(COLORS)]
                x1, y1, x2, y2 = (float(v) for v in box)
                ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                               edgecolor=color, linewidth=1.5))
                text = s['classes'][int(label)] + ('' if scores is None
                                                   else f' {float(scores[j]):.2f}')
                ax.text(x1, max(y1 - 2, 0), text, color='white', fontsize=6,
                        bbox=dict(facecolor=color, edgecolor='none', pad=0.5, alpha=0.8))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    return out_png


def save_detection_figure(cfg, checkpoint: str, out_png: str, num_images: int = 4,
                          score_thr: float = 0.3, title: Optional[str] = None,
                          pred_name: str = 'prediction') -> str:
    """The first ``num_images`` test images: ground truth beside ``checkpoint``'s detections."""
    samples = predict_images(cfg, checkpoint, range(num_images))
    return draw_gt_vs_pred(samples, out_png, score_thr, title, pred_name)


def save_carbon_plot(runs, out_png: str) -> str:
    """Cumulative g CO2 of each run (``[(name, run_dir)]``), one PNG (energy/plots.py)."""
    from ..energy.plots import plot_cumulative_co2
    from ..energy.report import load_run_records
    plot_cumulative_co2([(name, load_run_records(d)) for name, d in runs], out_png)
    return out_png
