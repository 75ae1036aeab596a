"""A training process killed with SIGKILL keeps every finished epoch's record on disk."""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

from mmkd_green.energy import load_run_totals
from tests.fixtures import limits


def test_kill_9_keeps_finished_epochs(tmp_path, repo_root):
    work = tmp_path / 'run'
    jsonl = work / 'carbon' / 'carbon.jsonl'
    log = open(tmp_path / 'stdout.txt', 'w')
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONPATH=repo_root)
    script = osp.join('tests', 'energy', 'energy_helpers.py')
    proc = limits.popen([sys.executable, script, str(work), '1000', '0.01'], cwd=repo_root,
                        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if jsonl.exists() and sum('"type": "epoch"' in line for line in open(jsonl)) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, open(tmp_path / 'stdout.txt').read()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == -signal.SIGKILL

    lines = [json.loads(line) for line in open(jsonl)]         # every line parses
    epochs = [r['epoch'] for r in lines if r['type'] == 'epoch']
    assert len(epochs) >= 2 and epochs == list(range(1, len(epochs) + 1))
    # epochs whose training finished before the kill (LoggerHook prints [k][8/8] at their end);
    # the last one may still have been closing its record
    done = {int(k) for k in re.findall(r'Epoch\(train\)\s*\[(\d+)\]\[8/8\]',
                                       open(tmp_path / 'stdout.txt').read())}
    assert max(epochs) >= max(done) - 1
    assert not (work / 'carbon' / 'summary.json').exists()
    totals = load_run_totals(str(work))
    assert totals['epochs'] == len(epochs) and not totals['finished']
    assert totals['co2_g'] == sum(r['co2_g'] for r in lines if r['type'] == 'epoch')
