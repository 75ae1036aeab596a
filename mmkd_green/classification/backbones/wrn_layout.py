"""WRN state dicts: our :class:`~.wrn.WideResNet` key layout <-> upstream zju-vipa/CMI's.

Both networks compute the same function (pre-activation blocks, projection shortcut on the
activated input, BN-ReLU-pool-fc head), so a checkpoint converts by renaming keys only; every
tensor is kept as is. Per block ``j`` of stage ``s``::

    ours                        upstream (datafree/models/classifiers/wresnet.py)
    block{s}.{j}.bn1.*          block{s}.layer.{j}.bn1.*          (also bn2, conv1, conv2)
    block{s}.{j}.shortcut.*     block{s}.layer.{j}.convShortcut.*
    bn.*                        bn1.*                              (the head's BatchNorm)
    conv1.*, fc.*               conv1.*, fc.*

Wrapper prefixes are dropped on reading: ``module.`` (DataParallel/DDP) and ``backbone.``
(our ``PlainClassifier``). :func:`detect_layout` tells the two layouts apart;
:func:`check_state_dict` compares keys and shapes with a target network's ``state_dict()`` and
raises a ``ValueError`` naming the difference and the fix (``tools/convert_wrn.py``).
"""
import re
from typing import Dict, Mapping

import torch

OURS, UPSTREAM = 'ours', 'upstream'

_TO_UPSTREAM = ((re.compile(r'^(block[123])\.(\d+)\.shortcut\.'), r'\1.layer.\2.convShortcut.'),
                (re.compile(r'^(block[123])\.(\d+)\.'), r'\1.layer.\2.'),
                (re.compile(r'^bn\.'), 'bn1.'))
_TO_OURS = ((re.compile(r'^(block[123])\.layer\.(\d+)\.convShortcut\.'), r'\1.\2.shortcut.'),
            (re.compile(r'^(block[123])\.layer\.(\d+)\.'), r'\1.\2.'),
            (re.compile(r'^bn1\.'), 'bn.'))
#: the renames upstream -> ours, in order (also usable as mmengine ``revise_keys``)
UPSTREAM_TO_OURS = _TO_OURS
_WRAPPERS = re.compile(r'^(module\.|backbone\.)+')


def unwrap_checkpoint(ckpt) -> Dict[str, torch.Tensor]:
    """The tensor dict of a checkpoint: ``ckpt['state_dict']`` (mmengine, upstream) or ``ckpt``
    itself, with ``module.``/``backbone.`` prefixes dropped and non-tensor entries skipped."""
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f'not a WRN checkpoint: expected a dict of tensors (or a dict with '
                         f'"state_dict"), got {type(ckpt).__name__}')
    return {_WRAPPERS.sub('', k): v for k, v in state.items() if torch.is_tensor(v)}


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """``'ours'`` or ``'upstream'`` from the key names (prefixes already dropped)."""
    keys = list(state)
    up = any('.layer.' in k for k in keys) or any(k.startswith('bn1.') for k in keys)
    ours = any(re.match(r'^block[123]\.\d+\.', k) for k in keys) or \
        any(k.startswith('bn.') for k in keys)
    if up == ours:
        raise ValueError('cannot tell the WRN key layout: expected keys like "block1.0.conv1.weight"'
                         ' (mmkd-green) or "block1.layer.0.conv1.weight" (zju-vipa/CMI), got '
                         f'{keys[:4]}...')
    return UPSTREAM if up else OURS


def _rename(state, rules):
    out = {}
    for k, v in state.items():
        for pattern, repl in rules:
            new, n = pattern.subn(repl, k)
            if n:
                k = new
                break
        out[k] = v
    return out


def to_upstream(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Our layout (or already upstream's: returned unchanged) -> upstream's."""
    state = unwrap_checkpoint(state)
    return dict(state) if detect_layout(state) == UPSTREAM else _rename(state, _TO_UPSTREAM)


def to_ours(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Upstream's layout (or already ours: returned unchanged) -> ours."""
    state = unwrap_checkpoint(state)
    return dict(state) if detect_layout(state) == OURS else _rename(state, _TO_OURS)


def convert(state: Mapping[str, torch.Tensor], to: str) -> Dict[str, torch.Tensor]:
    """``to_upstream`` (``to='upstream'``) or ``to_ours`` (``to='ours'``)."""
    if to not in (OURS, UPSTREAM):
        raise ValueError(f'convert(to={to!r}): choose "ours" or "upstream"')
    return to_upstream(state) if to == UPSTREAM else to_ours(state)


def check_state_dict(state: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
                     what: str = 'teacher checkpoint', fix: str = '') -> None:
    """Raise ``ValueError`` unless ``state`` has exactly ``reference``'s keys and shapes.

    The message lists up to 5 missing, unexpected and mismatched keys and appends ``fix``."""
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    shapes = [f'{k}: {tuple(state[k].shape)} vs {tuple(reference[k].shape)}' for k in reference
              if k in state and tuple(state[k].shape) != tuple(reference[k].shape)]
    if not (missing or unexpected or shapes):
        return
    parts = [f'{name} ({len(items)}): {items[:5]}' for name, items in
             (('missing keys', missing), ('unexpected keys', unexpected),
              ('shape mismatches', shapes)) if items]
    raise ValueError(f'{what} does not fit the network: ' + '; '.join(parts) +
                     (f'. Fix: {fix}' if fix else ''))
