"""Helpers shared by the detection tests (a plain module: test dirs have no __init__.py)."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CLASSES = ('circle', 'square', 'triangle')


def load_cfg(rel_path, data_root=None, work_dir=None, epochs=None, batch_size=None, **model):
    """A config of ours with its datasets pointed at ``data_root`` (a generated VOC set)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, rel_path))
    if data_root is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].dataset.data_root = data_root
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    if batch_size is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].batch_size = batch_size
    if epochs is not None:
        cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        cfg.param_scheduler[1].update(T_max=epochs, end=epochs)
    cfg.model.update(model)
    return cfg
