"""End a child process when its parent ends (Linux ``PR_SET_PDEATHSIG``), with no race.

``prctl(PR_SET_PDEATHSIG, sig)`` asks the kernel to send ``sig`` to this process when the thread
that created it exits, so no orphan keeps training or holding a lock after its parent is killed
(even by ``kill -9``). The signal is only sent for a death *after* it was armed: a parent that died
between ``fork`` and the call has already re-parented the child. So after arming, the child
compares ``os.getppid()`` with the parent it expects and exits at once when they differ.

Used by the τ study's runs (SIGTERM: the run's handlers log and the lock is released) and by the
tests' child processes (SIGKILL: nothing of a test may outlive it). On systems without ``prctl``
(not Linux) arming is skipped and only the parent check runs.
"""
import ctypes
import os
import signal
from typing import Optional

_PR_SET_PDEATHSIG = 1


def arm_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel for ``sig`` when the parent ends; False where ``prctl`` is missing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: Optional[int] = None, sig: int = signal.SIGKILL,
                    message: Optional[str] = None, exit_code: int = 1) -> None:
    """In a child: get ``sig`` when the parent ends; if ``parent_pid`` is given and is no longer
    the parent (it died before the signal was armed), print ``message`` (if any) and
    ``os._exit(exit_code)`` at once.

    Safe in a ``preexec_fn`` as long as ``message`` is None (no I/O between fork and exec)."""
    arm_parent_death_signal(sig)
    if parent_pid is not None and os.getppid() != parent_pid:
        if message:
            print(message, flush=True)
        os._exit(exit_code)
