"""A frozen teacher that is never trained, saved, optimised or wrapped by DDP.

The teacher is held *outside* the module tree (not a registered child), so it is absent from
``state_dict()`` (student checkpoints stay plain), from ``parameters()`` (the optimizer never sees
it) and from DDP's parameter sync. :class:`FrozenTeacherMixin` forwards device/dtype moves to it
and keeps it in eval mode.
"""
import os.path as osp
import pickle
import zipfile
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

    Raises ``FileNotFoundError`` naming the file and the config key to fix, and
    :class:`CorruptCheckpointError` (a ``ValueError``) naming the file when it is corrupt or
    truncated. ``checkpoint`` may be a local path or an URL (mmengine's loaders handle ``http(s)://``, ``open-mmlab://``, ...).
    """
    from mmengine.runner import load_checkpoint
    is_remote = '://' in str(checkpoint)
    if not checkpoint or (not is_remote and not osp.isfile(checkpoint)):
        raise FileNotFoundError(
            f'{what} checkpoint not found: {checkpoint!r}. Train the {what} first (e.g. '
            f'`python tools/train.py <{what} config>`) and point `{config_key}` at its .pth '
            f'(or pass `--cfg-options {config_key}=PATH`).')
    try:
        return load_checkpoint(model, checkpoint, map_location='cpu', strict=strict,
                               revise_keys=list(revise_keys))
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        if is_remote or not _looks_corrupt(err):
            raise
        raise CorruptCheckpointError(
            f'{what} checkpoint {checkpoint!r} ({osp.getsize(checkpoint)} bytes) cannot be read: '
            f'it is corrupt or truncated ({type(err).__name__}: {_first_line(err)}). '
            f'This happens when a download or copy was interrupted or the disk filled up while '
            f'it was saved. Fix: copy or download it again (compare its size and sha256sum with '
            f'the source), or train the {what} again and point `{config_key}` at the new '
            f'.pth.') from err


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else 'no message'


class CorruptCheckpointError(ValueError):
    """A checkpoint file exists but is not a readable torch file (truncated, damaged)."""


_CORRUPT_SIGNS = ('PytorchStreamReader', 'zip archive', 'central directory', 'truncated',
                  'Ran out of input', 'invalid load key', 'unexpected EOF', 'file is not a zip',
                  'Unsupported operand')


def _looks_corrupt(err: BaseException) -> bool:
    """Damaged-file errors of torch.load, not a refused global (``Weights only load failed``)
    or a state-dict mismatch, which keep their own messages."""
    text = str(err)
    if 'Weights only load failed' in text and not any(k in text for k in _CORRUPT_SIGNS):
        return False
    return isinstance(err, (EOFError, zipfile.BadZipFile)) or \
        any(k in text for k in _CORRUPT_SIGNS)


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
