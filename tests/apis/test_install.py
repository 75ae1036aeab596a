"""A non-editable install works on its own: the package (only ``mmkd_green/``, as ``setup.py``
installs it) is pip-installed into a target folder, and a short training runs from a config path
in a directory outside the repository, with only that folder on ``PYTHONPATH``."""
import json
import os
import os.path as osp
import pickle
import shutil
import sys

import numpy as np
import pytest
from tests.fixtures import limits

CONFIG = osp.join('configs', 'cifar10', 'resnet18_teacher.py')


def write_tiny_cifar10(folder, n_train=16, n_test=8):
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for name, n in (('data_batch_1', n_train), ('test_batch', n_test)):
        batch = dict(data=rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     labels=[i % 10 for i in range(n)])
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump(batch, f)


@pytest.fixture(scope='module')
def installed(repo_root, tmp_path_factory):
    """``pip install --no-deps --no-build-isolation --target SITE`` of a copy of the sources that
    setup.py packages (a copy: building in the checkout would leave build/ and egg-info there)."""
    base = tmp_path_factory.mktemp('install')
    src, site = base / 'src', base / 'site'
    src.mkdir()
    shutil.copy(osp.join(repo_root, 'setup.py'), src / 'setup.py')
    shutil.copytree(osp.join(repo_root, 'mmkd_green'), src / 'mmkd_green',
                    ignore=shutil.ignore_patterns('__pycache__'))
    cmd = [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-index',
           '--no-build-isolation', '--target', str(site), str(src)]
    proc = limits.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(site / 'mmkd_green' / 'apis.py')
    assert not osp.exists(site / 'configs') and not osp.exists(site / 'tools')
    return str(site)


def test_installed_package_trains_from_a_config_path(installed, repo_root, tmp_path):
    outside = tmp_path / 'elsewhere'
    outside.mkdir()
    write_tiny_cifar10(str(outside / 'data' / 'cifar-10-batches-py'))
    options = ['train_cfg.max_epochs=1', 'model.backbone.base_channels=4',
               'default_hooks.logger.interval=1']
    for split, n in (('train', 16), ('val', 8), ('test', 8)):
        options += [f'{split}_dataloader.dataset.data_root=data',
                    f'{split}_dataloader.dataset.indices={n}', f'{split}_dataloader.batch_size=8',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    # the repo's config by absolute path: it is data, read from wherever the caller keeps it
    args = ['train', osp.join(repo_root, CONFIG), '--work-dir', 'run', '--cfg-options', *options]
    code = ('import sys, mmkd_green; from mmkd_green import apis; '
            'assert mmkd_green.__file__.startswith(sys.argv[1]), mmkd_green.__file__; '
            'apis.main(sys.argv[2:])')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHONPATH=installed, OMP_NUM_THREADS='1')
    proc = limits.run([sys.executable, '-c', code, installed, *args], cwd=str(outside),
                      env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    run = outside / 'run'
    assert osp.isfile(run / 'epoch_1.pth')
    records = [json.loads(line) for line in open(run / 'carbon' / 'carbon.jsonl')]
    assert [r['type'] for r in records][-1] == 'final'
    val = [r for r in records if r['type'] == 'val']
    assert len(val) == 1 and 0.0 <= val[0]['metrics']['cls/accuracy'] <= 100.0
