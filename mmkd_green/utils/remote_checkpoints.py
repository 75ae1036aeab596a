"""Checkpoints given by URL in a config, checked before a run starts (offline clusters).

mmengine fetches ``init_cfg=dict(type='Pretrained', checkpoint=URL)`` when the Runner initialises
the weights (after the datasets are built) and a teacher's ``teacher_ckpt`` when the model is
built; without internet both end in a raw ``URLError``. :func:`check_remote_checkpoints` finds
every such URL in a config, resolves it the way mmengine does (``open-mmlab://``/``openmmlab://``
through mmengine's model-zoo JSON, ``torchvision://``/``modelzoo://``, ``mmcls://``, plain
``http(s)://``) to the file torch's hub cache holds, ``<torch.hub.get_dir()>/checkpoints/<file>``
(``$TORCH_HOME/hub/checkpoints`` by default), and:

* cached file present → nothing to fetch, no network used; the file is checked first
  (:func:`~.checkpoint_file.checkpoint_file_problem`: not empty, a zip archive with its central
  directory or a legacy pickle, and the SHA-256 prefix its name carries, as torch.hub's
  ``check_hash`` would): a corrupt file raises :class:`CheckpointUnavailableError` naming the
  file to delete;
* otherwise the URL is probed (one ranged GET of one byte, ``timeout`` seconds); if it cannot be
  fetched, :class:`CheckpointUnavailableError` names the URL, the cache file mmengine/torch look
  for, and the config key to point at a local file
  (``--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth``).

Local paths and other schemes (``s3://``, ``pavi://``) are not checked here.
"""
import os
import os.path as osp
import urllib.error
import urllib.request
from typing import Iterator, List, Optional, Tuple
from urllib.parse import urlparse

from .checkpoint_file import checkpoint_file_problem

HTTP = ('http://', 'https://')
#: config keys (besides ``init_cfg`` checkpoints) that name a checkpoint loaded at model build
CKPT_KEYS = ('teacher_ckpt', )


class CheckpointUnavailableError(RuntimeError):
    """A checkpoint URL in the config cannot be fetched (and is not in the local cache)."""


def resolve_url(name: str) -> Tuple[Optional[str], Optional[str]]:
    """``(url, local file)`` mmengine uses for a checkpoint name.

    ``url`` is ``None`` for local files (then ``local file`` is the path), for mmengine-home
    model-zoo entries that are files, and for schemes this module does not handle (both ``None``).
    """
    from mmengine.runner import checkpoint as ckpt
    if name.startswith(HTTP):
        return name, cache_file(name)
    for prefix in ('open-mmlab://', 'openmmlab://'):
        if name.startswith(prefix):
            model = name[len(prefix):]
            model = ckpt.get_deprecated_model_names().get(model, model)
            urls = ckpt.get_external_models()
            if model not in urls:
                raise KeyError(f'{name}: {model!r} is not in mmengine\'s model zoo list '
                               '(mmengine/hub/openmmlab.json)')
            url = urls[model]
            if url.startswith(HTTP):
                return url, cache_file(url)
            return None, osp.join(ckpt._get_mmengine_home(), url)
    for prefix, table in (('torchvision://', ckpt.get_torchvision_models),
                          ('modelzoo://', ckpt.get_torchvision_models),
                          ('mmcls://', ckpt.get_mmcls_models)):
        if name.startswith(prefix):
            urls = table()
            model = name[len(prefix):]
            if model not in urls:
                raise KeyError(f'{name}: {model!r} is not a known {prefix} model')
            return urls[model], cache_file(urls[model])
    if '://' in name:
        return None, None
    return None, name


def cache_file(url: str) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` (mmengine's ``load_url``) caches ``url``."""
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def find_checkpoint_urls(cfg, training: bool = True) -> List[Tuple[str, str]]:
    """``(config key, checkpoint name)`` of every remote checkpoint the run will load.

    ``init_cfg`` checkpoints (``type='Pretrained'``) and ``load_from`` count only when
    ``training`` (mmengine initialises weights in ``Runner.train``); ``teacher_ckpt`` always
    (loaded when the model is built).
    """
    found = []

    def walk(node, key: str) -> Iterator:
        if isinstance(node, dict):
            if training and node.get('type') == 'Pretrained' and \
                    isinstance(node.get('checkpoint'), str):
                found.append((f'{key}.checkpoint', node['checkpoint']))
            for k, v in node.items():
                sub = f'{key}.{k}' if key else str(k)
                if k in CKPT_KEYS and isinstance(v, str):
                    found.append((sub, v))
                else:
                    walk(v, sub)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}.{i}')

    walk(cfg.get('model', {}), 'model')
    if training and isinstance(cfg.get('load_from'), str):
        found.append(('load_from', cfg.load_from))
    return [(k, v) for k, v in found if '://' in v]


def probe(url: str, timeout: float = 10.0) -> Optional[str]:
    """``None`` if ``url`` answers a one-byte ranged GET, else the reason it cannot be fetched."""
    request = urllib.request.Request(url, headers={'Range': 'bytes=0-0'})
    try:
        # a fresh opener: proxies from the environment as it is now (urlopen caches its first)
        with urllib.request.build_opener().open(request, timeout=timeout) as response:
            response.read(1)
        return None
    except urllib.error.HTTPError as err:
        return f'HTTP {err.code} {err.reason}'
    except (urllib.error.URLError, OSError, ValueError) as err:
        return str(getattr(err, 'reason', err))


def check_remote_checkpoints(cfg, training: bool = True, timeout: float = 10.0) -> List[str]:
    """Raise :class:`CheckpointUnavailableError` for the first remote checkpoint that is neither
    cached nor fetchable; returns the URLs checked. ``MMKD_SKIP_URL_CHECK=1`` skips the check."""
    if os.environ.get('MMKD_SKIP_URL_CHECK', '') == '1':
        return []
    checked = []
    for key, name in find_checkpoint_urls(cfg, training):
        url, local = resolve_url(name)
        if url is None:
            if local is not None and not osp.isfile(local):
                raise CheckpointUnavailableError(
                    f'{key} = {name!r} resolves to the local file {local}, which does not exist. '
                    f'Put the file there or point the key at it: --cfg-options {key}=/path/to/'
                    f'{osp.basename(local)}')
            continue
        if osp.isfile(local):
            problem = checkpoint_file_problem(local)
            if problem:
                raise CheckpointUnavailableError(
                    f'The cached checkpoint of `{key}` ({url}) is unusable: {local}: {problem}. '
                    f'Fix: delete it (rm {local}) so that it is downloaded again, or put a good '
                    f'copy there (offline: download it where there is internet)')
            continue
        reason = probe(url, timeout)
        if reason is not None:
            via = '' if name == url else f' ({name!r})'
            raise CheckpointUnavailableError(
                f'Cannot fetch the checkpoint of `{key}`: {url}{via}: {reason}.\n'
                f'Offline machine? Download it where there is internet and either\n'
                f'  * put it where mmengine/torch look for it: {local}\n'
                f'    (torch.hub cache: $TORCH_HOME/hub/checkpoints/{osp.basename(local)}), or\n'
                f'  * point the config at your copy: --cfg-options {key}=/path/to/'
                f'{osp.basename(local)}')
        checked.append(url)
    return checked
