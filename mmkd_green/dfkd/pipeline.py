"""What ``tools/dfkd*.py`` do: pick a config, point it at a teacher (and optionally real CIFAR
test data), train a student on synthetic images on mmengine's Runner, export the student.

The exported student is an mmengine-style checkpoint ``dict(meta=..., state_dict=...)`` with
``backbone.*`` keys, so it loads into the classification ``PlainClassifier`` configs (and, through
``mmkd_green.utils.teacher.load_weights``, into a bare backbone).
"""
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook

METHODS = ('cmi', 'deepinversion')
DATASETS = ('cifar10', 'cifar100')
TAUS = ('stochastic', 'fixed')


def config_name(method: str, dataset: str = 'cifar10', tau: str = 'stochastic') -> str:
    """``<dataset>_<method>_wrn40_2_wrn16_1_<tau>.py``: the shipped config's file name (the
    caller knows the folder, e.g. ``configs/dfkd/`` of a checkout)."""
    for name, value, allowed in (('method', method, METHODS), ('dataset', dataset, DATASETS),
                                 ('tau', tau, TAUS)):
        if value not in allowed:
            raise ValueError(f'unknown {name} {value!r}; choose one of {", ".join(allowed)}')
    return f'{dataset}_{method}_wrn40_2_wrn16_1_{tau}.py'


def prepare_config(cfg, teacher: Optional[str] = None, data_root: Optional[str] = None,
                   epochs: Optional[int] = None, progress: bool = True):
    """Set the teacher checkpoint, real-data validation (only with ``data_root``), the epoch count
    (``apis.set_epochs``: the cosine schedule follows it) and progress bars."""
    from mmkd_green import apis
    if teacher is not None:
        cfg.model.teacher_ckpt = teacher
    if data_root is not None:
        if not osp.isdir(data_root):
            raise FileNotFoundError(f'--data-root {data_root!r} is not a directory; give the folder '
                                    'holding cifar-10-batches-py/ (or cifar-100-python/)')
        apis.point_data_root(cfg, data_root)
    else:
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    if epochs is not None:
        apis.set_epochs(cfg, epochs)
    cfg.train_cfg.progress = bool(progress)
    return cfg


class LastValMetrics(Hook):
    """Keeps the metrics of the last validation run (``.metrics``)."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def export_student(model, path: str, meta: Optional[dict] = None) -> str:
    """Save the student's weights as ``backbone.*`` (PlainClassifier layout)."""
    model = getattr(model, 'module', model)
    state = {f'backbone.{k}': v.detach().cpu() for k, v in model.student.state_dict().items()}
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(dict(meta=dict(meta or {}), state_dict=state), path)
    return path


def run(cfg, out: Optional[str] = None) -> dict:
    """Train per ``cfg``; export the student to ``out`` (default ``<work_dir>/student.pth``).

    Returns ``dict(student=path, metrics=last validation metrics or None, work_dir=...)``.
    """
    from mmkd_green import apis
    runner = apis.build_runner(cfg)
    recorder = LastValMetrics()
    runner.register_hook(recorder)
    runner.train()
    out = out or osp.join(runner.work_dir, 'student.pth')
    meta = dict(config=osp.basename(cfg.filename or ''), epoch=runner.epoch, iter=runner.iter,
                metrics=recorder.metrics)
    export_student(runner.model, out, meta)
    runner.logger.info(f'student saved to {out}' +
                       (f'; real-data metrics {recorder.metrics}' if recorder.metrics else ''))
    return dict(student=out, metrics=recorder.metrics, work_dir=runner.work_dir)
