"""Fault containment for energy sources: nothing a source raises may stop training.

* :func:`open_source` opens a source and turns any exception (``SourceUnavailable``, an
  ``NVMLError``, a ``RuntimeError`` from CUDA, ``OSError`` ...) into a reason string;
* :func:`reason` is the one-line text of an exception used in logs and records.

The meter (:mod:`..meter`) keeps per component a baseline reading; when a read fails the
segment's energy of that component is ``None`` (``measured: false``) with the reason in the
record, the baseline is dropped, and it is taken again at the next epoch start (or by the
background poller), so the following segment is measured again.
"""
from typing import Optional

from .base import SourceUnavailable


def reason(err: BaseException) -> str:
    try:
        text = str(err)
    except Exception:   # noqa: BLE001  (NVMLError.__str__ calls into the NVML library)
        text = ''
    if isinstance(err, SourceUnavailable) and text:
        return text
    return f'{type(err).__name__}: {text}' if text else type(err).__name__


def open_source(source) -> Optional[str]:
    """``None`` when ``source.open()`` worked, else why not (the source is closed again)."""
    try:
        source.open()
        return None
    except Exception as err:   # noqa: BLE001
        try:
            source.close()
        except Exception:   # noqa: BLE001
            pass
        return reason(err)
