"""The interface every energy source implements."""
from typing import Dict


class SourceUnavailable(RuntimeError):
    """A source cannot be read on this machine; the message says why and how to fix it."""


class EnergySource:
    """Cumulative energy per component since :meth:`open`.

    Attributes:
        components (tuple): component names it reports (``'gpu'``, ``'cpu'``, ``'dram'``).
        method (str): ``'measured'`` (hardware counters / power readings) or ``'estimated'``.
        scope (str): ``'host'`` (whole machine: counted once per host in DDP), ``'process'`` or
            ``'device'`` (this process's own devices: counted by every rank).
        detail (str): how it measures, for the records.
    """

    components = ()
    method = 'measured'
    scope = 'process'
    detail = ''

    def open(self) -> None:
        """Take the baseline readings; raise :class:`SourceUnavailable` when unreadable."""

    def poll(self) -> None:
        """Called periodically from the meter's background thread (wrap tracking, sampling)."""

    def read(self) -> Dict[str, float]:
        """Joules per component since :meth:`open` (monotone non-decreasing)."""
        raise NotImplementedError

    def close(self) -> None:
        pass
