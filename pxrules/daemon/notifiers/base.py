"""What every delivery target shares: the outcome of one attempt."""

from __future__ import annotations

import email.utils
import enum
import time
from dataclasses import dataclass
from typing import Any, Protocol


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # worth trying again later
    PERMANENT = "permanent"  # trying again will not help


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt's outcome; ``retry_after`` is the server's wish in seconds, if it said one."""

    outcome: Outcome
    detail: str
    retry_after: float | None = None


class Target(Protocol):
    """One independent delivery target (an Apprise URL, a webhook, a PxServ write, the log)."""

    name: str

    async def send(self, document: dict[str, Any]) -> Result: ...

    async def close(self) -> None: ...


RETRYABLE_STATUS = frozenset({408, 429})


def classify_http(status: int, reason: str, retry_after: str | None = None) -> Result:
    """CONTRACT §4: 2xx delivered; 408, 429, 5xx retried (with Retry-After); others permanent."""
    detail = f"HTTP {status} {reason}".strip()
    if 200 <= status < 300:
        return Result(Outcome.DELIVERED, detail)
    if status in RETRYABLE_STATUS or status >= 500:
        return Result(Outcome.RETRY, detail, parse_retry_after(retry_after))
    if 300 <= status < 400:
        return Result(Outcome.PERMANENT, f"{detail}: redirects are not followed; use the final URL")
    return Result(Outcome.PERMANENT, detail)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
