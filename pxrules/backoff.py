"""Capped exponential backoff with proportional jitter, used for every reconnect and retry.

>>> Backoff(initial=1, maximum=30, jitter=0).delay(3)
8.0
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``delay(n)`` is ``initial * factor**n`` capped at ``maximum``, then spread by ±``jitter``.

    Jitter is a fraction of the delay (0.25 means ±25 %), never pushes the delay above
    ``maximum`` and never below zero. ``rng`` returns a float in [0, 1); tests pin it.
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.25
    rng: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def base(self, attempt: int) -> float:
        """The delay before jitter for the zero-based ``attempt``."""
        # Cap the exponent so a daemon that retried for months does not overflow a float.
        return float(min(self.maximum, self.initial * self.factor ** min(max(attempt, 0), 64)))

    def delay(self, attempt: int) -> float:
        """The delay to wait before retry number ``attempt`` (0 for the first retry)."""
        base = self.base(attempt)
        spread = base * self.jitter
        draw = (self.rng or random.random)()
        return max(0.0, min(self.maximum, base - spread + 2 * spread * draw))
