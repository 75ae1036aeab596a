"""Let torch >= 2.6's safe loader (``weights_only=True``) read mmengine checkpoints.

mmengine 0.10.7 checkpoints pickle a few non-tensor objects (the MessageHub's ``HistoryBuffer``s
holding numpy arrays, numpy scalars in metadata). Rather than turning ``weights_only`` off, we
allow-list exactly those types with :func:`torch.serialization.add_safe_globals`; every other
global still makes ``torch.load`` refuse the file.
"""
import numpy as np
import torch

_DONE = False


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    items = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        items += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return items


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint types for the safe loader (idempotent)."""
    global _DONE
    if _DONE or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    torch.serialization.add_safe_globals([HistoryBuffer, *_numpy_globals()])
    _DONE = True
