"""The delivery decision: after an attempt, deliver, retry (when) or give up.

A pure function of the attempt's result and the clock, so it is tested without waiting, and
it is one of the modules ``make mutate`` holds to its score.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backoff import Backoff
from .notifiers.base import Outcome, Result

#: The retry policy of a notifier that sets none: 1 s doubling to 5 minutes, ±20 %.
DEFAULT_BACKOFF = Backoff(initial=1.0, maximum=300.0, factor=2.0, jitter=0.2)


@dataclass(frozen=True)
class Decision:
    """What to do after an attempt: ``status`` is pending (retry at ``next_attempt``),
    delivered, or failed."""

    status: str
    next_attempt: float
    reason: str


def next_step(
    result: Result,
    *,
    attempts: int,
    created: float,
    now: float,
    retry_for: float,
    backoff: Backoff,
) -> Decision:
    """Decide after attempt number ``attempts`` (1-based) of an item created at ``created``."""
    if result.outcome is Outcome.DELIVERED:
        return Decision("delivered", now, "delivered")
    if result.outcome is Outcome.PERMANENT:
        return Decision("failed", now, "permanent failure")
    delay = result.retry_after if result.retry_after is not None else backoff.delay(attempts - 1)
    deadline = created + retry_for
    if now + delay > deadline:
        if now >= deadline:
            return Decision("failed", now, f"gave up after {attempts} attempts")
        delay = deadline - now  # one last try right at the deadline
    return Decision("pending", now + delay, f"retry in {delay:.1f}s")
