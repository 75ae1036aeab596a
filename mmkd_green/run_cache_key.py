"""The cache key of a study run: what decides its result, and nothing cosmetic.

``key = SHA-1(json(config') + code version + torch version + mmengine version
+ teacher checkpoint SHA-1)`` where ``config'`` is the resolved config without

* where/how it runs: ``work_dir``, ``experiment_name``, ``launcher``;
* cosmetic fields: the logger interval (``default_hooks.logger.interval``, ``log_processor``),
  ``num_workers`` / ``persistent_workers`` / ``pin_memory`` of every dataloader;

and with every path value (keys ending in ``root``, ``file``, ``path``, ``ckpt``, ``prefix``)
in one spelling: ``realpath`` for absolute-able roots, ``normpath`` for paths inside a root
(``data/x/`` and ``./data/x`` are the same key).

Code version (``code_version``): ``'source'`` (default) the SHA-1 of every ``*.py`` file of the
``mmkd_green`` package (names and contents, so an uncommitted edit counts, and an edit elsewhere
in the checkout, e.g. README or tests, does not); ``'package'`` only ``mmkd_green.__version__``.
The git commit and dirty flag are recorded with each run (:func:`git_state`) for provenance.
"""
import copy
import hashlib
import json
import os
import os.path as osp
import subprocess
from functools import lru_cache
from typing import Optional

from mmkd_green.energy.records import to_jsonable

VOLATILE_KEYS = ('work_dir', 'experiment_name', 'launcher', 'log_processor', 'log_level')
LOADER_COSMETIC = ('num_workers', 'persistent_workers', 'pin_memory')
PATH_SUFFIXES = ('root', 'file', 'path', 'ckpt', 'prefix')
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))


def _norm_path(key: str, value: str) -> str:
    if key.endswith('root') or osp.isabs(value):
        return osp.realpath(value)
    return osp.normpath(value)


def _normalize(obj, key: str = ''):
    if isinstance(obj, dict):
        return {k: _normalize(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalize(v, key) for v in obj]
    if isinstance(obj, str) and obj and key.lower().endswith(PATH_SUFFIXES) \
            and '://' not in obj:
        return _norm_path(key.lower(), obj)
    return obj


def canonical_config(cfg) -> dict:
    """The config's dict without volatile and cosmetic fields, paths in one spelling."""
    d = copy.deepcopy(cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg))
    for k in VOLATILE_KEYS:
        d.pop(k, None)
    logger = (d.get('default_hooks') or {}).get('logger')
    if isinstance(logger, dict):
        logger.pop('interval', None)
    for k, v in d.items():
        if k.endswith('_dataloader') and isinstance(v, dict):
            for c in LOADER_COSMETIC:
                v.pop(c, None)
    return _normalize(to_jsonable(d))


@lru_cache(maxsize=None)
def source_digest(root: str = PACKAGE_DIR) -> str:
    """SHA-1 over the relative names and contents of the ``*.py`` files under ``root``."""
    h = hashlib.sha1()
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in sorted(f for f in files if f.endswith('.py')):
            path = osp.join(dirpath, name)
            h.update(osp.relpath(path, root).encode() + b'\0')
            with open(path, 'rb') as f:
                h.update(f.read() + b'\0')
    return h.hexdigest()


def code_version(mode: str = 'source') -> str:
    import mmkd_green
    if mode == 'package':
        return f'mmkd_green {mmkd_green.__version__}'
    if mode == 'source':
        return f'mmkd_green {mmkd_green.__version__} source {source_digest()}'
    raise ValueError(f"code_version must be 'source' or 'package', got {mode!r}")


def git_state(path: str = PACKAGE_DIR) -> dict:
    """``dict(commit=..., dirty=...)`` of the checkout holding ``path`` (None outside git)."""
    def git(*args):
        return subprocess.run(['git', '-C', path, *args], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    try:
        commit = git('rev-parse', 'HEAD') or None
        dirty = bool(git('status', '--porcelain', '--untracked-files=no')) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return dict(commit=commit, dirty=dirty)


def file_sha1(path: str) -> str:
    from .utils.checkpoint_file import file_digest
    return file_digest(path, 'sha1')


def versions(mode: str = 'source') -> dict:
    import mmengine
    import torch
    return dict(code=code_version(mode), torch=torch.__version__, mmengine=mmengine.__version__)


def run_key(cfg, teacher_sha1: Optional[str] = None, mode: str = 'source') -> str:
    """The key of the module doc."""
    text = json.dumps(dict(config=canonical_config(cfg), versions=versions(mode),
                           teacher_sha1=teacher_sha1), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()
