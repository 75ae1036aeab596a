"""Export the student of an ``SSDDistiller`` checkpoint as a plain mmdet checkpoint.

The distiller's ``state_dict`` holds only ``student.*`` (the teacher lives outside the module tree),
so the export keeps those tensors with the ``student.`` prefix stripped, plus the run's ``meta``
(epoch, iteration, dataset classes, ...) without the distiller's config text, and drops optimizer
and scheduler states. The result loads with ``mmengine.runner.load_checkpoint(model, path,
strict=True)`` into the student detector built from its own config (e.g.
``configs/ssdlite_mobilenetv2_voc0712.py``, or mmdet's SSDLite config with VOC's 20 classes) and
runs with ``tools/test.py STUDENT_CONFIG EXPORTED.pth``.
"""
import os
import os.path as osp
from collections import OrderedDict

import torch

from ..utils.safe_load import register_safe_globals

PREFIX = 'student.'


def export_student(kd_ckpt: str, out: str) -> dict:
    """Write ``out`` from ``kd_ckpt``; returns ``{'num_tensors', 'out', 'dropped'}``."""
    if not osp.isfile(kd_ckpt):
        raise FileNotFoundError(f'KD checkpoint not found: {kd_ckpt}')
    register_safe_globals()
    ckpt = torch.load(kd_ckpt, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{kd_ckpt}: no state_dict found')
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in state.items())
    student = OrderedDict((k[len(PREFIX):], v) for k, v in state.items() if k.startswith(PREFIX))
    if not student:
        raise ValueError(f'{kd_ckpt} holds no "{PREFIX}*" weights, so it is not an SSDDistiller '
                         f'checkpoint (first keys: {list(state)[:3]}); a plain detector '
                         'checkpoint needs no export')
    dropped = [k for k in state if not k.startswith(PREFIX)]
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items() if k != 'cfg'}
    meta['exported_from'] = osp.abspath(kd_ckpt)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=student), out)
    return dict(out=out, num_tensors=len(student), dropped=dropped)
