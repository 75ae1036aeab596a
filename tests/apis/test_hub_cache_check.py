"""A corrupt file in torch's hub cache is refused before training, naming the file to delete
(issue 23: a 0-byte or truncated cached checkpoint passed the offline check and failed later
with ``OSError: [Errno 22]`` / ``EOFError``). No network: proxies point at a closed port."""
import hashlib
import os
import sys

import pytest
import torch
from mmengine.config import Config

from mmkd_green.utils.checkpoint_file import checkpoint_file_problem
from mmkd_green.utils.remote_checkpoints import (CheckpointUnavailableError,
                                                 check_remote_checkpoints)
from tests.fixtures import limits


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'):
        monkeypatch.setenv(var, 'http://127.0.0.1:9')
    for var in ('no_proxy', 'NO_PROXY', 'MMKD_SKIP_URL_CHECK', 'MMKD_DEBUG'):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    return cache


def _good_bytes(tmp_path):
    torch.save(dict(state_dict=dict(w=torch.arange(1000.0))), str(tmp_path / 'good.pth'))
    return (tmp_path / 'good.pth').read_bytes()


def _cfg(name):
    return Config(dict(model=dict(type='Any', init_cfg=dict(
        type='Pretrained', checkpoint=f'http://127.0.0.1:9/w/{name}'))))


def _bad_files(tmp_path):
    good = _good_bytes(tmp_path)
    digest = hashlib.sha256(good).hexdigest()
    return {
        'empty': (f'net-{digest[:8]}.pth', b'', 'empty (0 bytes)'),
        'truncated': (f'net-{digest[:8]}.pth', good[:len(good) // 2], 'truncated zip'),
        'html page': ('net.pth', b'<html>proxy login</html>', 'not a torch checkpoint'),
        'other file': (f'net-{"0" * 8}.pth', good, 'does not match the hash prefix 00000000'),
    }


@pytest.mark.parametrize('case', ['empty', 'truncated', 'html page', 'other file'])
def test_corrupt_cached_checkpoint_is_refused_naming_the_file(offline, tmp_path, case):
    name, data, why = _bad_files(tmp_path)[case]
    (offline / name).write_bytes(data)
    with pytest.raises(CheckpointUnavailableError) as err:
        check_remote_checkpoints(_cfg(name), timeout=2)
    msg = str(err.value)
    assert why in msg and f'rm {offline / name}' in msg and 'model.init_cfg.checkpoint' in msg


def test_good_files_pass_zip_legacy_and_hash(tmp_path):
    good = _good_bytes(tmp_path)
    named = tmp_path / f'net-{hashlib.sha256(good).hexdigest()[:10]}.pth'
    named.write_bytes(good)
    assert checkpoint_file_problem(str(named)) is None
    legacy = tmp_path / 'legacy.pth'
    torch.save(dict(w=torch.ones(3)), str(legacy), _use_new_zipfile_serialization=False)
    assert checkpoint_file_problem(str(legacy)) is None


def test_train_cli_stops_on_a_corrupt_cache_file_without_traceback(offline, tmp_path, repo_root):
    name = 'toy-0badc0de.pth'
    (offline / name).write_bytes(b'')
    cmd = [sys.executable, 'tools/train.py', 'tests/fixtures/toy_kd_config.py', '--work-dir',
           str(tmp_path / 'run'), '--cfg-options', 'model.init_cfg.type=Pretrained',
           f'model.init_cfg.checkpoint=http://127.0.0.1:9/w/{name}']
    proc = limits.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f'rm {offline / name}' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'run').exists()
