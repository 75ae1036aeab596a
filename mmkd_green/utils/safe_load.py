"""Let torch >= 2.6's safe loader (``weights_only=True``) read mmengine checkpoints.

mmengine 0.10.7 checkpoints pickle a few non-tensor objects: the MessageHub's ``HistoryBuffer``s
(numpy arrays inside) and, through ``HistoryBuffer.__getstate__``, its statistics methods, which
pickle as ``getattr(HistoryBuffer, 'mean')``. Rather than turning ``weights_only`` off, we
allow-list exactly these types with :func:`torch.serialization.add_safe_globals`. ``getattr`` is
allow-listed only as :func:`history_buffer_getattr`, a restricted stand-in that resolves
HistoryBuffer's own statistics methods and refuses everything else, so any other global (or any
other ``getattr``) still makes ``torch.load`` refuse the file.
"""
import pickle

import numpy as np
import torch

_DONE = False


def history_buffer_getattr(obj, name, *default):
    """``getattr`` restricted to ``HistoryBuffer.<statistics method>`` (unpickling only)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str) and not name.startswith('_') \
            and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a weights_only checkpoint: only '
        'HistoryBuffer statistics methods are allowed')


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
    torch.serialization.add_safe_globals([
        HistoryBuffer, *_numpy_globals(),
        (history_buffer_getattr, 'builtins.getattr'),
        (history_buffer_getattr, '__builtin__.getattr'),
    ])
    _DONE = True
