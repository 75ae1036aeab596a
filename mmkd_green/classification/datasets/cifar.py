"""CIFAR-10 / CIFAR-100 from the official "python version" pickle layout.

Expected files (either ``data_root`` itself or its ``cifar-10-batches-py`` /
``cifar-100-python`` sub-folder)::

    cifar-10-batches-py/  batches.meta  data_batch_1 .. data_batch_5  test_batch
    cifar-100-python/     meta  train  test

Each batch is a pickled dict with ``data`` (uint8, N x 3072, CHW order) and ``labels``
(CIFAR-100: ``fine_labels``). Whichever ``data_batch_*`` files are present are read (no md5 check),
and keys may be ``str`` or ``bytes`` (the original files give ``bytes`` keys under
``encoding='bytes'``). Files are read with a restricted unpickler that only accepts numpy arrays
and builtin containers.
"""
import glob
import io
import logging
import os.path as osp
import pickle
import re
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmkd_green.registry import DATASETS

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')

_ALLOWED = {('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', '_reconstruct'),
            ('numpy._core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
            ('numpy._core.multiarray', 'scalar'), ('_codecs', 'encode')}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy arrays (CIFAR batches need no more)."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED or (module.startswith('numpy') and name.endswith('DType')):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'CIFAR batch refers to {module}.{name}, which a CIFAR '
                                     'pickle never contains; refusing to load it')


def _str(x):
    return x.decode('latin1') if isinstance(x, bytes) else x


def load_cifar_batch(path: str) -> dict:
    """One pickled CIFAR batch as a dict with ``str`` keys (and ``str`` names)."""
    with open(path, 'rb') as f:
        raw = _ArrayUnpickler(io.BytesIO(f.read()), encoding='bytes').load()
    if not isinstance(raw, dict):
        raise ValueError(f'{path}: expected a pickled dict (official CIFAR python layout), '
                         f'got {type(raw).__name__}')
    out = {}
    for k, v in raw.items():
        if isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [_str(x) for x in v]
        out[_str(k)] = _str(v) if isinstance(v, bytes) else v
    return out


def holdout_indices(labels: np.ndarray, fraction: float, seed: int = 0) -> Dict[str, np.ndarray]:
    """Split the training images into ``train`` and ``holdout`` index arrays, stratified by class.

    Per class ``c`` with ``n_c`` images, ``round(fraction · n_c)`` of them (chosen by
    ``default_rng([seed, c])``) form the holdout part; the two parts are disjoint and together
    are every image. A pure function of ``(labels, fraction, seed)``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f'holdout fraction must lie in (0, 1), got {fraction}')
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = int(round(fraction * len(idx)))
        held.append(np.random.default_rng([int(seed), int(c)]).permutation(idx)[:n])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(len(labels), bool)
    mask[held] = False
    return dict(train=np.flatnonzero(mask), holdout=held)


def _check_holdout(holdout: Optional[dict], test_mode: bool) -> Optional[dict]:
    if holdout is None:
        return None
    holdout = dict(holdout)
    unknown = set(holdout) - {'fraction', 'seed', 'part'}
    if unknown or 'fraction' not in holdout or holdout.get('part', 'train') not in (
            'train', 'holdout'):
        raise ValueError(f"holdout must be dict(fraction=F, seed=S, part='train'|'holdout'), got "
                         f'{holdout}')
    if test_mode:
        raise ValueError('holdout splits the training files; the test split (test_mode=True) '
                         'cannot be split. For a validation split carved from the training data '
                         "use test_mode=False with holdout=dict(fraction=0.1, part='holdout').")
    holdout.setdefault('seed', 0)
    holdout.setdefault('part', 'train')
    return holdout


class _CIFARPickle(BaseDataset):
    """Common loader; subclasses name the folder, files and label key."""

    folder: str
    train_pattern: str
    test_files: Sequence[str]
    meta_file: str
    label_key: str
    names_key: str
    layout: str

    def __init__(self, data_root: str = '', test_mode: bool = False, pipeline=(),
                 indices=None, serialize_data: bool = False, holdout: Optional[dict] = None,
                 **kwargs):
        self.images = None
        self.holdout = _check_holdout(holdout, test_mode)
        super().__init__(data_root=data_root, test_mode=test_mode, pipeline=list(pipeline),
                         indices=indices, serialize_data=serialize_data, **kwargs)

    def _folder(self) -> str:
        root = self.data_root or '.'
        for cand in (root, osp.join(root, self.folder)):
            if osp.isfile(osp.join(cand, self.meta_file)) or self._split_files(cand):
                return cand
        raise FileNotFoundError(
            f'{type(self).__name__}: no CIFAR files under {osp.abspath(root)!r}. Expected the '
            f'official python-pickle layout: {self.layout} in data_root or in '
            f'data_root/{self.folder}/ (download and extract the "python version" archive; set '
            f'`data_root` in the dataset config).')

    def _split_files(self, folder: str) -> List[str]:
        if self.test_mode:
            return [osp.join(folder, f) for f in self.test_files
                    if osp.isfile(osp.join(folder, f))]
        found = glob.glob(osp.join(folder, self.train_pattern))

        def key(p):
            m = re.search(r'(\d+)$', p)
            return (int(m.group(1)) if m else -1, p)
        return sorted((p for p in found if osp.isfile(p)), key=key)

    def load_data_list(self) -> List[dict]:
        folder = self._folder()
        files = self._split_files(folder)
        split = 'test' if self.test_mode else 'train'
        if not files:
            raise FileNotFoundError(
                f'{type(self).__name__}: found {folder!r} but no {split} batch in it. Expected '
                f'{self.layout}.')
        datas, labels = [], []
        for path in files:
            batch = load_cifar_batch(path)
            missing = [k for k in ('data', self.label_key) if k not in batch]
            if missing:
                raise KeyError(f'{path}: missing keys {missing} (found {sorted(batch)}); not an '
                               f'official CIFAR python batch')
            data = np.asarray(batch['data'], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072:
                raise ValueError(f'{path}: `data` must be N x 3072 uint8, got {data.shape}')
            datas.append(data.reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[self.label_key], dtype=np.int64))
        self.images = np.ascontiguousarray(np.concatenate(datas))
        self.labels = np.concatenate(labels)
        if len(self.labels) != len(self.images):
            raise ValueError(f'{folder}: {len(self.images)} images but {len(self.labels)} labels')
        self._log_files(folder, files)
        if self.holdout is not None:
            keep = holdout_indices(self.labels, **{k: v for k, v in self.holdout.items()
                                                   if k != 'part'})[self.holdout['part']]
            self.images, self.labels = self.images[keep], self.labels[keep]
        n_cls = len(self.metainfo['classes'])
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= n_cls):
            raise ValueError(f'{folder}: labels must lie in [0, {n_cls}), got '
                             f'[{self.labels.min()}, {self.labels.max()}]')
        meta_path = osp.join(folder, self.meta_file)
        if osp.isfile(meta_path):
            names = load_cifar_batch(meta_path).get(self.names_key)
            if names and len(names) == n_cls:
                self._metainfo['classes'] = tuple(names)
        return [dict(img_idx=i, gt_label=int(y)) for i, y in enumerate(self.labels)]

    def _log_files(self, folder: str, files: List[str]) -> None:
        names = [osp.basename(f) for f in files]
        split = 'test' if self.test_mode else 'train'
        print_log(f'{type(self).__name__} ({split}): {len(self.labels)} images from {names} in '
                  f'{folder}', logger='current')
        official = self.test_files if self.test_mode else self.official_train
        missing = [f for f in official if f not in names]
        if missing:
            print_log(f'{type(self).__name__} ({split}): {missing} not found in {folder}: this is '
                      f'not the official {split} set ({len(self.labels)} images read). Results '
                      f'are not comparable with the official split.', logger='current',
                      level=logging.WARNING)

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['img'] = torch.from_numpy(self.images[info['img_idx']])
        return info


@DATASETS.register_module()
class CIFAR10Pickle(_CIFARPickle):
    """CIFAR-10 (10 classes); ``test_mode=True`` reads ``test_batch``, else ``data_batch_*``.

    Args:
        data_root: folder holding ``cifar-10-batches-py/`` (or that folder itself).
        pipeline: transforms ending with ``PackClsInputs``.
        indices: an int keeps the first N samples, a list those indices (CPU budgets).
        holdout (dict, optional): ``dict(fraction=0.1, seed=0, part='train'|'holdout')``: keep
            only one part of a class-stratified split of the training files (see
            :func:`holdout_indices`), e.g. a validation split carved from the training data.
    """
    METAINFO = dict(classes=CIFAR10_CLASSES)
    folder = 'cifar-10-batches-py'
    train_pattern = 'data_batch_*'
    test_files = ('test_batch',)
    official_train = tuple(f'data_batch_{i}' for i in range(1, 6))
    meta_file = 'batches.meta'
    label_key = 'labels'
    names_key = 'label_names'
    layout = 'batches.meta, data_batch_1 .. data_batch_5 (any subset), test_batch'


@DATASETS.register_module()
class CIFAR100Pickle(_CIFARPickle):
    """CIFAR-100 with its 100 fine labels; ``test_mode=True`` reads ``test``, else ``train``."""
    METAINFO = dict(classes=tuple(f'class_{i}' for i in range(100)))
    folder = 'cifar-100-python'
    train_pattern = 'train'
    test_files = ('test',)
    official_train = ('train',)
    meta_file = 'meta'
    label_key = 'fine_labels'
    names_key = 'fine_label_names'
    layout = 'meta, train, test'
