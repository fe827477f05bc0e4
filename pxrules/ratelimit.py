"""A log line that may recur thousands of times a second (a malformed device, a full disk) is
written at most once per interval, with the number of lines it stood for.

>>> import logging
>>> ticks = iter([0.0, 1.0, 2.0, 12.0])
>>> limited = RateLimitedLog(logging.getLogger("doc"), logging.ERROR, clock=lambda: next(ticks))
>>> [limited.log("disk full") for _ in range(4)]
[True, False, False, True]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """Log at ``level`` at most once per ``interval`` seconds; the next line written says how
    many were held back."""

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
        level: int = logging.WARNING,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._level = level
        self._interval = interval
        self._clock = clock
        self._last = -float("inf")
        self._suppressed = 0

    def log(self, message: str, *args: object) -> bool:
        """Write the line unless one was written within the interval; return whether it was."""
        now = self._clock()
        if now - self._last < self._interval:
            self._suppressed += 1
            return False
        if self._suppressed:
            message += " (%d similar lines suppressed)"
            args = (*args, self._suppressed)
        self._logger.log(self._level, message, *args)
        self._last = now
        self._suppressed = 0
        return True
