"""Tools print a user error's message and exit 1, without a traceback; ``--debug`` or
``MMKD_DEBUG=1`` shows it (issue 23). Real ``tools/train.py`` runs, and ``run_cli`` itself."""
import os
import sys

import pytest
import torch

from mmkd_green import apis
from mmkd_green.utils.cli import run_cli
from tests.fixtures import limits

TOY = 'tests/fixtures/toy_kd_config.py'


def _train(repo_root, tmp_path, *extra, debug_env=False):
    env = dict(os.environ)
    env.pop('MMKD_DEBUG', None)
    if debug_env:
        env['MMKD_DEBUG'] = '1'
    cmd = [sys.executable, 'tools/train.py', TOY, '--work-dir', str(tmp_path / 'run'), *extra]
    return limits.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.mark.skipif(torch.cuda.is_available(), reason='AmpOptimWrapper works with CUDA')
def test_amp_optim_wrapper_on_a_cpu_only_machine_is_refused_with_the_fix(repo_root, tmp_path):
    args = ('--amp', '--cfg-options', 'optim_wrapper.type=AmpOptimWrapper')
    proc = _train(repo_root, tmp_path, *args)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr and 'AssertionError' not in proc.stderr
    assert 'train.py: error: ' in proc.stderr
    assert 'AmpOptimWrapper (fp16 with loss scaling) needs a CUDA' in proc.stderr
    assert '--cfg-options optim_wrapper.type=OptimWrapper' in proc.stderr
    assert not (tmp_path / 'run').exists()
    proc = _train(repo_root, tmp_path, *args, debug_env=True)     # MMKD_DEBUG=1: the traceback
    assert proc.returncode == 1 and 'Traceback' in proc.stderr and 'ValueError' in proc.stderr
    # the same refusal without --amp, when training from the API
    cfg = apis.load_config(os.path.join(repo_root, TOY), work_dir=str(tmp_path / 'run2'),
                           cfg_options=['optim_wrapper.type=AmpOptimWrapper'])
    with pytest.raises(ValueError, match='needs a CUDA'):
        apis.train(cfg)


def test_missing_config_is_one_line(repo_root, tmp_path):
    proc = limits.run([sys.executable, 'tools/test.py', str(tmp_path / 'nope.py'),
                           str(tmp_path / 'nope.pth')], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert f'test.py: error: config file not found: {tmp_path / "nope.py"}' in proc.stderr


def _raise(err):
    raise err


@pytest.mark.parametrize('err,text', [
    (ValueError('budget_kwh must be > 0'), 'budget_kwh must be > 0'),
    (KeyError('a study config needs `taus`'), 'a study config needs `taus`'),   # no quotes
    (FileNotFoundError('data root not found: /x'), 'data root not found: /x'),
    (RuntimeError('grid would exceed --max-grid-kwh'), 'grid would exceed --max-grid-kwh')])
def test_run_cli_user_errors(monkeypatch, capsys, err, text):
    monkeypatch.delenv('MMKD_DEBUG', raising=False)
    monkeypatch.setattr(sys, 'argv', ['tool.py', 'x', '--debug'])
    with pytest.raises(ValueError if isinstance(err, ValueError) else type(err)):
        run_cli(_raise, err)                  # --debug: re-raised (with its traceback)
    assert sys.argv == ['tool.py', 'x']       # and removed before the tool parses its args
    cleaned = []
    with pytest.raises(SystemExit) as exit_:
        run_cli(_raise, err, cleanup=lambda: cleaned.append(1))
    assert exit_.value.code == 1 and cleaned == [1]
    assert capsys.readouterr().err.startswith(f'tool.py: error: {text}\n')


def test_run_cli_keeps_the_traceback_of_bugs(monkeypatch):
    monkeypatch.delenv('MMKD_DEBUG', raising=False)
    monkeypatch.setattr(sys, 'argv', ['tool.py'])
    for bug in (TypeError('x'), AttributeError('y'), RecursionError('z')):
        with pytest.raises(type(bug)):
            run_cli(_raise, bug)


def test_run_cli_frees_what_main_returns_before_cleanup(monkeypatch):
    """A runner returned by a tool's main must be gone when cleanup ends the process group
    (else gloo can abort the process at interpreter exit)."""
    import gc
    import weakref
    monkeypatch.setattr(sys, 'argv', ['tool.py'])

    class Runner:
        pass
    refs = []

    def main():
        runner = Runner()
        refs.append(weakref.ref(runner))
        return runner

    alive_at_cleanup = []
    run_cli(main, cleanup=lambda: (gc.collect(), alive_at_cleanup.append(refs[0]() is not None)))
    assert alive_at_cleanup == [False]
