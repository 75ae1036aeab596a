"""An exclusive per-run lock (``fcntl.flock`` on ``<path>``), so two processes never train one run.

The lock belongs to the open file: the kernel drops it when the holder exits, however it dies
(kill -9 included), so a stale lock file never blocks a rerun. The holder's pid is written into
the file for the message of a process that has to wait.
"""
import fcntl
import os
from typing import Optional


class RunLock:
    """``with RunLock(path): ...`` holds the lock; :meth:`try_acquire` does not wait."""

    def __init__(self, path: str):
        self.path = path
        self._fd: Optional[int] = None

    def try_acquire(self) -> bool:
        """Take the lock if free (True); False if another open file holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return True

    def acquire(self) -> None:
        """Wait for the lock."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())

    def holder(self) -> Optional[int]:
        """The pid written by the current (or last) holder, if readable."""
        try:
            with open(self.path) as f:
                return int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False
