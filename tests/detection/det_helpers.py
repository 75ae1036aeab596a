"""Helpers shared by the detection tests (a plain module: test dirs have no __init__.py)."""
import os.path as osp

from mmkd_green import apis

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CLASSES = ('circle', 'square', 'triangle')


def load_cfg(rel_path, data_root=None, work_dir=None, epochs=None, batch_size=None, **model):
    """A config of ours (``rel_path`` from the repository root) with its datasets pointed at
    ``data_root`` (a generated VOC set), ``epochs`` long (``apis.set_epochs``), quiet logging."""
    cfg = apis.load_config(osp.join(ROOT, rel_path), work_dir=work_dir)
    cfg.log_level = 'WARNING'
    if data_root is not None:
        apis.point_data_root(cfg, data_root)
    if batch_size is not None:
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].batch_size = batch_size
    if epochs is not None:
        apis.set_epochs(cfg, epochs)
    cfg.model.update(model)
    return cfg
