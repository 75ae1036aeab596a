"""Demo UX: per-epoch progress lines with ETA; foreign deprecation notices off the console but in
the log files (real mmengine runs of the toy KD problem)."""
import io
import logging
import os.path as osp
import warnings

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmkd_green.utils.console import QuietConsole, is_foreign
from mmkd_green.utils.progress import StageProgressHook, format_seconds

TOY = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'fixtures', 'toy_kd_config.py')
FILECLIENT = '"FileClient" will be deprecated in future. Please use io functions in ...'


def toy_cfg(work_dir, epochs=3):
    cfg = Config.fromfile(TOY)
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.log_level = 'WARNING'
    return cfg


def test_format_seconds():
    assert [format_seconds(s) for s in (9.4, 75, 3700, -1)] == ['9s', '1m15s', '1h01m', '0s']


def test_progress_line_per_epoch_with_eta(tmp_path):
    stream = io.StringIO()
    runner = Runner.from_cfg(toy_cfg(tmp_path / 'run'))
    runner.register_hook(StageProgressHook('teacher', stream=stream))
    runner.train()
    lines = stream.getvalue().splitlines()
    assert lines[0] == '[teacher] 3 epochs x 8 iterations'
    assert [ln.split()[2] for ln in lines[1:]] == ['1/3', '2/3', '3/3']
    assert all('loss ' in ln and 's/epoch' in ln for ln in lines[1:])
    assert 'ETA' in lines[1] and 'ETA' in lines[2] and 'done in' in lines[3]


def test_foreign_notices_leave_console_but_stay_in_log_files(tmp_path):
    """The console handlers of the run's logger drop foreign notices (the run's log file keeps
    them); foreign Python warnings go to the collection file, ours to the usual display.
    Checked on the handlers and on ``warnings.showwarning`` themselves, not on captured
    stdout (pytest's capture and warning recorder make that order-dependent)."""
    from mmkd_green.utils.console import ForeignFilter
    foreign_log = tmp_path / 'foreign_warnings.log'
    with warnings.catch_warnings(record=True) as early:
        warnings.simplefilter('always')
        warnings.warn('pkg_resources is deprecated as an API', UserWarning)
    cfg = toy_cfg(tmp_path / 'run', epochs=1)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='QuietConsoleHook')]
    shown = []
    saved = warnings.showwarning
    warnings.showwarning = lambda message, *a, **k: shown.append(str(message))
    try:
        with QuietConsole(str(foreign_log), early=early):
            runner = Runner.from_cfg(cfg)
            runner.train()
            print_log(FILECLIENT, logger='current', level=logging.WARNING)
            print_log('[energy] our own warning', logger='current', level=logging.WARNING)
            warnings.showwarning('torch.foo is deprecated, use bar', FutureWarning, 'x.py', 1)
            warnings.showwarning('a warning of ours that matters', UserWarning, 'x.py', 2)
    finally:
        warnings.showwarning = saved
    assert shown == ['a warning of ours that matters']
    console = [h for h in runner.logger.handlers if type(h) is logging.StreamHandler]
    assert console and all(any(isinstance(f, ForeignFilter) for f in h.filters) for h in console)

    def passes(msg):
        record = runner.logger.makeRecord('x', logging.WARNING, 'x.py', 1, msg, None, None)
        return all(f.filter(record) for h in console for f in h.filters
                   if isinstance(f, ForeignFilter))
    assert not passes(FILECLIENT) and passes('[energy] our own warning')
    run_log = open(runner.logger.handlers[-1].baseFilename).read() \
        if isinstance(runner.logger.handlers[-1], logging.FileHandler) else ''
    assert 'FileClient' in run_log and 'torch.foo is deprecated' in run_log
    collected = foreign_log.read_text()
    assert 'pkg_resources is deprecated' in collected and 'torch.foo' in collected
    assert 'ours that matters' not in collected


def test_is_foreign():
    assert is_foreign('"HardDiskBackend" is the alias of "LocalBackend"')
    assert is_foreign('Failed to add <class LocalVisBackend>, the visualizer ...')
    assert is_foreign('``MultiScaleDeformableAttention`` has been moved to ``mmcv.ops.multi_scale_deform_attn``')
    assert not is_foreign('[energy] no RAPL interface (deprecated driver)')
    assert not is_foreign('x is deprecated', module='/repo/mmkd_green/energy/hook.py')
    assert not is_foreign('loss is NaN')
