"""A frozen teacher that is never trained, saved, optimised or wrapped by DDP.

The teacher is held *outside* the module tree (not a registered child), so it is absent from
``state_dict()`` (student checkpoints stay plain), from ``parameters()`` (the optimizer never sees
it) and from DDP's parameter sync. :class:`FrozenTeacherMixin` forwards device/dtype moves to it
and keeps it in eval mode.
"""
import os.path as osp
from typing import Optional

import torch.nn as nn


def freeze(module: nn.Module) -> nn.Module:
    """eval mode and ``requires_grad=False`` for every parameter."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def load_weights(model: nn.Module, checkpoint: str, what: str = 'teacher',
                 config_key: str = 'model.teacher_ckpt', strict: bool = True,
                 revise_keys=((r'^module\.', ''),)) -> dict:
    """Load an mmengine/plain checkpoint into ``model`` with torch's safe loader.

    Raises ``FileNotFoundError`` naming the file and the config key to fix. ``checkpoint`` may be a
    local path or an URL (mmengine's loaders handle ``http(s)://``, ``open-mmlab://``, ...).
    """
    from mmengine.runner import load_checkpoint
    is_remote = '://' in str(checkpoint)
    if not checkpoint or (not is_remote and not osp.isfile(checkpoint)):
        raise FileNotFoundError(
            f'{what} checkpoint not found: {checkpoint!r}. Train the {what} first (e.g. '
            f'`python tools/train.py <{what} config>`) and point `{config_key}` at its .pth '
            f'(or pass `--cfg-options {config_key}=PATH`).')
    return load_checkpoint(model, checkpoint, map_location='cpu', strict=strict,
                           revise_keys=list(revise_keys))


class FrozenTeacherMixin:
    """Mixin for ``nn.Module`` distillers: ``self.set_teacher(module)``, then ``self.teacher``."""

    def set_teacher(self, teacher: nn.Module) -> None:
        self.__dict__['_frozen_teacher'] = freeze(teacher)   # bypasses nn.Module registration

    @property
    def teacher(self) -> Optional[nn.Module]:
        return self.__dict__.get('_frozen_teacher')

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        if self.teacher is not None:
            self.teacher._apply(fn, *args, **kwargs)
        return out

    def train(self, mode: bool = True):
        out = super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return out
