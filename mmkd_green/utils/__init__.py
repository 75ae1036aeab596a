from . import console, cpu_autocast, progress  # noqa: F401  (register QuietConsoleHook,
#                                               CPUAutocastOptimWrapper, StageProgressHook)
from .safe_load import register_safe_globals

__all__ = ['register_safe_globals']
