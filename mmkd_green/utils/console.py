"""Keep other packages' deprecation noise off a tool's console, not out of its log files.

mmengine/mmdet/setuptools warn about their own deprecations on every run (``pkg_resources is
deprecated``, ``"FileClient" will be deprecated``, ``"HardDiskBackend" is the alias of
"LocalBackend"``, visualizer/vis-backend notices). :class:`QuietConsole` sends such *foreign*
messages

* from Python's ``warnings``: to ``log_file`` and to the file handlers of the current mmengine
  logger (the run's own ``.log``), instead of stderr;
* from mmengine's logger: the console handlers drop them (a ``logging.Filter``), its file handlers
  still write them;

and leaves everything else (our own ``[energy]`` warnings, errors) on the console. Usage::

    with warnings.catch_warnings(record=True) as early:   # warnings while importing
        import mmkd_green
    with QuietConsole('work_dirs/demo/foreign_warnings.log', early=early):
        ... runs whose configs have custom_hooks += [dict(type='QuietConsoleHook')] ...
"""
import logging
import os
import os.path as osp
import re
import warnings
from typing import Iterable, Optional

#: message patterns of other packages' deprecation notices
FOREIGN_PATTERNS = (
    r'pkg_resources',
    r'deprecat',                       # "is deprecated", "will be deprecated", "deprecation"
    r'is the alias of',
    r'has been moved to',              # mmcv: "``MultiScaleDeformableAttention`` has been moved
    r'[Vv]isuali[sz]er',
    r'vis_backend',
)
_FOREIGN = re.compile('|'.join(FOREIGN_PATTERNS))


def is_foreign(message: str, module: str = '') -> bool:
    """A deprecation/visualizer notice that is not ours (mmkd_green messages never match)."""
    return 'mmkd_green' not in module and not message.lstrip().startswith('[') and \
        bool(_FOREIGN.search(message))


class ForeignFilter(logging.Filter):
    """Drops foreign notices; on a console handler only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_foreign(record.getMessage(), getattr(record, 'pathname', '') or '')


def _console_handlers(logger: logging.Logger):
    return [h for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]


class QuietConsole:
    """Context manager (module docstring). ``log_file`` collects every foreign notice."""

    def __init__(self, log_file: str, early: Optional[Iterable] = None):
        self.log_file = log_file
        self.early = list(early or [])
        self.count = 0
        self._saved_showwarning = None

    # ------------------------------------------------------------------ python warnings
    def _write(self, text: str) -> None:
        os.makedirs(osp.dirname(osp.abspath(self.log_file)), exist_ok=True)
        with open(self.log_file, 'a') as f:
            f.write(text.rstrip('\n') + '\n')
        self.count += 1

    def showwarning(self, message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line)
        if not is_foreign(str(message), filename):
            return self._saved_showwarning(message, category, filename, lineno, file, line)
        self._write(text)
        try:   # also into the current run's log file(s)
            from mmengine.logging import MMLogger
            if MMLogger.check_instance_created(MMLogger.get_current_instance().instance_name):
                logger = MMLogger.get_current_instance()
                record = logger.makeRecord(logger.name, logging.WARNING, filename, lineno,
                                           text.strip(), None, None)
                for handler in logger.handlers:
                    if isinstance(handler, logging.FileHandler):
                        handler.handle(record)
        except Exception:   # noqa: BLE001  (never let a warning break the run)
            pass

    def __enter__(self):
        self._saved_showwarning = warnings.showwarning
        warnings.showwarning = self.showwarning
        for w in self.early:
            self.showwarning(w.message, w.category, w.filename, w.lineno, None, w.line)
        self.early = []
        return self

    def __exit__(self, *exc):
        warnings.showwarning = self._saved_showwarning
        return False


def quiet_console_handlers(logger: Optional[logging.Logger] = None) -> None:
    """Add :class:`ForeignFilter` to the console handlers of ``logger`` (default: the current
    mmengine logger)."""
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    for handler in _console_handlers(logger):
        if not any(isinstance(f, ForeignFilter) for f in handler.filters):
            handler.addFilter(ForeignFilter())


from mmengine.hooks import Hook  # noqa: E402

from ..registry import HOOKS  # noqa: E402


@HOOKS.register_module()
class QuietConsoleHook(Hook):
    """``custom_hooks = [dict(type='QuietConsoleHook')]``: foreign deprecation notices of the
    run's logger leave the console but stay in the run's log file. Attaches when built (the
    Runner builds hooks after its logger) and again before the run."""

    priority = 'HIGHEST'

    def __init__(self):
        quiet_console_handlers()

    def before_run(self, runner) -> None:
        quiet_console_handlers(runner.logger)
