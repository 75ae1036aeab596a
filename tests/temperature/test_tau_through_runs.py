"""τ through real mmengine runs (tools/train.py): logged every iteration as the sampler's pure
function, falling loss, exact resume of the τ sequence from a checkpoint."""
import glob
import json
import os
import os.path as osp
import shutil
import sys

import pytest
import torch

from mmkd_green.temperature import UniformTemperature
from tests.fixtures import limits

CONFIG = osp.join('tests', 'fixtures', 'toy_kd_config.py')


def train(repo_root, work_dir, *extra):
    cmd = [sys.executable, osp.join('tools', 'train.py'), CONFIG, '--work-dir', str(work_dir),
           *extra]
    env = dict(os.environ, PYTHONPATH=repo_root)
    proc = limits.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def read_scalars(work_dir):
    paths = glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {r['iter']: r for r in rows if 'tau' in r}


@pytest.fixture(scope='module')
def full_run(repo_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('full')
    train(repo_root, work)
    return work, read_scalars(work)


def test_tau_logged_every_iteration_equals_pure_function(full_run):
    _, rows = full_run
    assert sorted(rows) == list(range(1, 33))          # 4 epochs x 8 iterations, logged each
    sampler = UniformTemperature(low=2, high=20, seed=123)
    for it, row in rows.items():
        assert row['tau'] == pytest.approx(sampler(it - 1), abs=1e-9)   # iter is 1-based in logs


def test_loss_falls(full_run):
    _, rows = full_run
    first = sum(rows[i]['loss'] for i in range(1, 9)) / 8
    last = sum(rows[i]['loss'] for i in range(25, 33)) / 8
    assert last < 0.7 * first, (first, last)


def test_checkpoint_loads_with_safe_loader_and_resume_is_exact(full_run, repo_root, tmp_path):
    work, rows = full_run
    ckpt = osp.join(str(work), 'epoch_2.pth')
    state = torch.load(ckpt, map_location='cpu')          # weights_only=True default of torch
    assert state['meta']['kd_temperature_seed'] == 123
    assert not any(k.startswith('teacher') for k in state['state_dict'])

    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    shutil.copy(ckpt, resumed / 'epoch_2.pth')
    train(repo_root, resumed, '--resume', str(resumed / 'epoch_2.pth'))
    again = read_scalars(resumed)
    assert sorted(again) == list(range(17, 33))
    for it in range(17, 33):
        assert again[it]['tau'] == rows[it]['tau']
        assert again[it]['loss'] == rows[it]['loss']


def test_resumed_tau_seed_comes_from_checkpoint(full_run, repo_root, tmp_path):
    work, rows = full_run
    shutil.copy(osp.join(str(work), 'epoch_2.pth'), tmp_path / 'epoch_2.pth')
    train(repo_root, tmp_path, '--resume', str(tmp_path / 'epoch_2.pth'),
          '--cfg-options', 'randomness.seed=999')
    again = read_scalars(tmp_path)
    assert [again[i]['tau'] for i in range(17, 33)] == [rows[i]['tau'] for i in range(17, 33)]
