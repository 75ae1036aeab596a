"""Offline clusters: a URL checkpoint that cannot be fetched stops the run before anything is built.

No network is used: every proxy variable points at a closed local port, so a fetch fails at once
(the same as a cluster without internet), and the torch hub cache is an empty temporary folder.
"""
import os.path as osp

import pytest
from mmengine.config import Config

from mmkd_green import apis
from mmkd_green.utils.remote_checkpoints import (CheckpointUnavailableError,
                                                 check_remote_checkpoints, find_checkpoint_urls,
                                                 resolve_url)

MBV2 = 'https://download.openmmlab.com/mmdetection/v2.0/third_party/' \
       'mobilenet_v2_batch256_imagenet-ff34753d.pth'
KEY = 'model.backbone.init_cfg.checkpoint'


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty torch hub cache; every HTTP(S) request goes to a closed port."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    for var in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'):
        monkeypatch.setenv(var, 'http://127.0.0.1:9')
    for var in ('no_proxy', 'NO_PROXY', 'MMKD_SKIP_URL_CHECK'):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def _ssdlite(repo_root, tmp_path, options=()):
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    return apis.load_config(osp.join(repo_root, 'configs', 'ssdlite_mobilenetv2_voc0712.py'),
                            work_dir=str(tmp_path / 'run'),
                            cfg_options=['data_root=/nonexistent/VOCdevkit/', *options])


def test_open_mmlab_name_resolves_to_url_and_torch_cache_file(offline):
    url, local = resolve_url('open-mmlab://mmdet/mobilenet_v2')
    assert url == MBV2
    assert local == str(offline / 'mobilenet_v2_batch256_imagenet-ff34753d.pth')


def test_train_stops_before_building_with_url_cache_file_and_key(offline, repo_root, tmp_path):
    cfg = _ssdlite(repo_root, tmp_path)
    with pytest.raises(CheckpointUnavailableError) as err:
        apis.train(cfg)   # would fail on the missing dataset if anything were built
    msg = str(err.value)
    assert MBV2 in msg and 'open-mmlab://mmdet/mobilenet_v2' in msg
    assert str(offline / 'mobilenet_v2_batch256_imagenet-ff34753d.pth') in msg
    assert f'--cfg-options {KEY}=/path/to/mobilenet_v2_batch256_imagenet-ff34753d.pth' in msg
    assert not osp.exists(tmp_path / 'run')


def test_cached_file_needs_no_network(offline, tmp_path):
    """(A cached file is checked: a whole torch file whose SHA-256 starts with its name's hash.)"""
    import hashlib

    import torch
    offline.mkdir(parents=True)
    torch.save(dict(w=torch.ones(2)), str(tmp_path / 'w.pth'))
    data = (tmp_path / 'w.pth').read_bytes()
    name = f'backbone-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    (offline / name).write_bytes(data)
    cfg = Config(dict(model=dict(type='Any', backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint=f'http://127.0.0.1:9/w/{name}')))))
    assert check_remote_checkpoints(cfg) == []


def test_local_file_key_is_not_checked(offline, repo_root, tmp_path):
    cfg = _ssdlite(repo_root, tmp_path, [f'{KEY}=/data/mbv2.pth'])
    assert find_checkpoint_urls(cfg) == []
    assert check_remote_checkpoints(cfg) == []


def test_teacher_url_checked_for_test_too_init_only_for_training(offline, repo_root, tmp_path):
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    cfg = apis.load_config(osp.join(repo_root, 'configs', 'ssd_kd_stochastic.py'),
                           cfg_options=['model.teacher_ckpt=http://127.0.0.1:9/teacher.pth',
                                        'data_root=/nonexistent/'])
    keys = dict(find_checkpoint_urls(cfg, training=True))
    assert keys == {'model.teacher_ckpt': 'http://127.0.0.1:9/teacher.pth',
                    'model.student.backbone.init_cfg.checkpoint':
                        'open-mmlab://mmdet/mobilenet_v2'}
    assert dict(find_checkpoint_urls(cfg, training=False)) == {
        'model.teacher_ckpt': 'http://127.0.0.1:9/teacher.pth'}
    with pytest.raises(CheckpointUnavailableError, match=r'model\.teacher_ckpt=/path/to/teacher'):
        check_remote_checkpoints(cfg, training=False)


def test_unreachable_direct_url_and_skip_switch(offline, monkeypatch):
    cfg = Config(dict(model=dict(type='Any', backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='http://127.0.0.1:9/w/backbone.pth')))))
    assert find_checkpoint_urls(cfg, training=False) == []
    with pytest.raises(CheckpointUnavailableError, match='http://127.0.0.1:9/w/backbone.pth'):
        check_remote_checkpoints(cfg, timeout=2)
    monkeypatch.setenv('MMKD_SKIP_URL_CHECK', '1')
    assert check_remote_checkpoints(cfg) == []
