"""tools/dist_train.sh with torchrun: 2 real processes, gloo on localhost, same τ on every rank."""
import glob
import json
import os
import os.path as osp
import sys

import pytest

from mmkd_green.temperature import UniformTemperature
from tests.fixtures import limits


@pytest.mark.parametrize('diff_rank_seed', [False, True])
def test_dist_train_two_ranks_share_tau(repo_root, tmp_path, diff_rank_seed, free_port):
    """τ is rank 0's draw on every rank, also when mmengine seeds each rank differently."""
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    cmd = ['bash', 'tools/dist_train.sh', 'tests/fixtures/toy_kd_config.py', '2',
           '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
           f'randomness.diff_rank_seed={diff_rank_seed}']
    proc = limits.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    (path,) = glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'scalars.json'))
    rows = [json.loads(line) for line in open(path) if '"tau"' in line]
    # 128 samples / (2 ranks x 16) = 4 iterations
    assert [r['iter'] for r in rows] == [1, 2, 3, 4]
    sampler = UniformTemperature(seed=123)
    for r in rows:
        assert abs(r['tau'] - sampler(r['iter'] - 1)) < 1e-9
        assert r['tau_rank_spread'] == 0.0
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))


def test_plugin_import_does_not_import_mmdet(repo_root):
    code = ('import sys; sys.path.insert(0, %r); import mmkd_green; '
            'assert "mmdet" not in sys.modules, "mmdet imported"; print("ok")' % repo_root)
    assert limits.check_output([sys.executable, '-c', code], text=True).strip() == 'ok'


def test_auto_scale_lr_needs_base_batch_size(repo_root, tmp_path):
    sys.path.insert(0, osp.join(repo_root, 'tools'))
    import train as train_tool
    try:
        train_tool.main(['tests/fixtures/toy_kd_config.py', '--work-dir', str(tmp_path),
                         '--auto-scale-lr'])
    except KeyError as e:
        assert 'base_batch_size' in str(e)
    else:
        raise AssertionError('expected a KeyError naming auto_scale_lr.base_batch_size')
