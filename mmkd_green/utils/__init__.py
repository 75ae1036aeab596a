from . import console, progress  # noqa: F401  (register QuietConsoleHook, StageProgressHook)
from .safe_load import register_safe_globals

__all__ = ['register_safe_globals']
