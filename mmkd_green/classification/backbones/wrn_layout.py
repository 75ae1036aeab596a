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


#: a WRN's top-level modules besides its head BatchNorm (``bn`` ours, ``bn1`` upstream's)
_WRN_TOP = ('conv1', 'block1', 'block2', 'block3', 'fc')
_BLOCK_KEY = {OURS: re.compile(r'^block[123]\.\d+\.'),
              UPSTREAM: re.compile(r'^block[123]\.layer\.\d+\.')}
_HEAD_BN = {OURS: 'bn', UPSTREAM: 'bn1'}


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """``'ours'`` or ``'upstream'`` from a WRN's structure (prefixes already dropped).

    A WRN has exactly the top-level modules ``conv1``, ``block1``-``block3``, ``fc`` and its head
    BatchNorm: ``bn`` with blocks ``block{s}.{j}.*`` (ours), ``bn1`` with ``block{s}.layer.{j}.*``
    (upstream). Anything else (e.g. a ResNet, whose ``bn1``/``layer1..4`` keys once passed for
    upstream's layout) raises ``ValueError`` naming what was found."""
    keys = list(state)
    top = sorted({k.split('.', 1)[0] for k in keys})
    for layout in (OURS, UPSTREAM):
        if top == sorted(_WRN_TOP + (_HEAD_BN[layout], )):
            blocks = [k for k in keys if k.startswith('block')]
            if all(_BLOCK_KEY[layout].match(k) for k in blocks):
                return layout
            odd = [k for k in blocks if not _BLOCK_KEY[layout].match(k)]
            raise ValueError(f'cannot tell the WRN key layout: the head BatchNorm is '
                             f'"{_HEAD_BN[layout]}" ({layout} layout) but block keys do not '
                             f'follow it, e.g. {odd[:3]}; expected keys like '
                             f'"block1.0.conv1.weight" (mmkd-green) or '
                             f'"block1.layer.0.conv1.weight" (zju-vipa/CMI)')
    hint = ' (layer1..layer4: a ResNet)' if 'layer1' in top else ''
    raise ValueError(f'cannot tell the WRN key layout: not a WideResNet state dict. A WRN has '
                     f'exactly the top-level modules conv1, block1, block2, block3, fc and bn '
                     f'(mmkd-green) or bn1 (zju-vipa/CMI); found {top}{hint} in {len(keys)} '
                     f'tensors, e.g. {keys[:3]}')


def wrn_architecture(state: Mapping[str, torch.Tensor]) -> Dict[str, int]:
    """``depth``, ``widen_factor``, ``num_classes``, ``in_channels`` of a WRN state dict (either
    layout), read from its shapes, after checking that every key and shape is exactly that of
    ``WideResNet(depth, widen_factor, num_classes, in_channels)``: ``depth = 6n + 4`` with ``n``
    blocks per stage, ``conv1``: ``(16, in_channels, 3, 3)``, ``block1.0.conv1``:
    ``(16k, 16, 3, 3)``, ``fc``: ``(num_classes, 64k)``. Raises ``ValueError`` otherwise."""
    from .wrn import WideResNet
    ours = to_ours(state)
    need = ('conv1.weight', 'block1.0.conv1.weight', 'fc.weight')
    missing = [k for k in need if k not in ours or ours[k].dim() < 2]
    if missing:
        raise ValueError(f'not a WideResNet state dict: no (or a malformed) {missing}')
    n = len({k.split('.')[1] for k in ours if k.startswith('block1.')})
    arch = dict(depth=6 * n + 4, widen_factor=int(ours['block1.0.conv1.weight'].shape[0]) // 16,
                num_classes=int(ours['fc.weight'].shape[0]),
                in_channels=int(ours['conv1.weight'].shape[1]))
    if arch['widen_factor'] < 1:
        shape = tuple(ours['block1.0.conv1.weight'].shape)
        raise ValueError(f'not a WideResNet state dict: block1.0.conv1.weight has shape {shape}, '
                         f'a WRN\'s is (16k, 16, 3, 3)')
    with torch.device('meta'):     # shapes only, no memory
        reference = WideResNet(**arch).state_dict()
    check_state_dict(ours, reference,
                     what='WRN-{depth}-{widen_factor} ({num_classes} classes, read from the '
                          'shapes)'.format(**arch),
                     fix='convert only WideResNet checkpoints (WRN-d-k, 32x32 CIFAR variant)')
    return arch


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
    """``to_upstream`` (``to='upstream'``) or ``to_ours`` (``to='ours'``), after checking every
    key and shape against a WRN (:func:`wrn_architecture`)."""
    if to not in (OURS, UPSTREAM):
        raise ValueError(f'convert(to={to!r}): choose "ours" or "upstream"')
    wrn_architecture(unwrap_checkpoint(state))
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
