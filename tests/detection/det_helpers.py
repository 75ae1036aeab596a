"""Helpers shared by the detection tests (a plain module: test dirs have no __init__.py)."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CLASSES = ('circle', 'square', 'triangle')


def load_cfg(rel_path, data_root=None, work_dir=None, epochs=None, batch_size=None, **model):
    """A config of ours with its datasets pointed at ``data_root`` (a generated VOC set)."""
    from mmkd_green.detection.demo import load_cfg as _load
    return _load(rel_path, data_root, work_dir, epochs, batch_size, **model)
