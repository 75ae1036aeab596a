"""``benchmarks/gpu_check.py --device cpu``: the GPU smoke script's CPU plumbing mode runs in CI
(every check either ``ok`` or ``skipped`` for want of CUDA, exit 0, JSON written), so the script
that the first GPU session runs has at least run end to end."""
import json
import os
import os.path as osp
import sys

import pytest

from tests.fixtures import limits

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.timeout(900)   # ~5 min on 2 loaded cores; one test, so a longer limit than the rest
def test_gpu_check_cpu_plumbing_mode(tmp_path):
    out = tmp_path / 'gpu_check.json'
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = limits.run([sys.executable, osp.join(ROOT, 'benchmarks', 'gpu_check.py'), '--device',
                       'cpu', '--workers', '0', '--out', str(out)], cwd=str(tmp_path), env=env,
                      capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(out.read_text())
    checks = result['checks']
    assert result['device'] == 'cpu' and len(checks) >= 8
    for name, c in checks.items():
        assert c.get('ok') is True or c.get('skipped'), (name, c)
    assert checks['nms_cuda'].get('skipped') and checks['qat_amp_refused']['ok'] is True
    assert checks['kd_fp32']['ok'] is True
