"""One daemon per state file: an exclusive lock on ``STATE.lock``, which names its holder.

Two daemons on one SQLite file would both deliver every alert. The lock is an advisory
``flock`` on a file beside the state file (SQLite's own locks are on the database itself); the
kernel releases it when the holder exits, even by ``kill -9``, so a stale lock never blocks a
restart. Where ``fcntl`` does not exist (Windows), nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .store import StateFileRefused

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class StateLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, state_path: str | os.PathLike[str]) -> None:
        self.state_path = str(state_path)
        self.path = Path(self.state_path + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StateFileRefused` naming the daemon that holds it."""
        if fcntl is None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # no lock file here: the state file cannot be opened either (memory only)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateFileRefused(
                f"{self.state_path} is in use by another pxrules daemon (PID {holder}); two "
                "daemons on one state file would deliver every alert twice: stop that one, or "
                "give --state another file"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
