"""What every delivery target shares: the outcome of one attempt, the HTTP status rules, and a
base class with the default ``close`` and aiohttp's errors turned into outcomes.

>>> classify_http(503, "Service Unavailable", "7")
Result(outcome=<Outcome.RETRY: 'retry'>, detail='HTTP 503 Service Unavailable', retry_after=7.0)
>>> classify_http(404, "Not Found").outcome
<Outcome.PERMANENT: 'permanent'>
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import aiohttp


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


class Target:
    """One independent delivery target (an Apprise URL, a webhook, a PxServ write, the log).

    Subclasses set :attr:`name` and implement :meth:`send`; it never raises for a failed
    delivery, it returns a :class:`Result` that says whether trying again may help.
    """

    name: str

    async def send(self, document: dict[str, Any]) -> Result:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class HttpTarget(Target):
    """A target that makes HTTP requests with aiohttp, within ``timeout`` seconds each."""

    timeout: float

    async def attempt(self, request: Awaitable[Result]) -> Result:
        """Await ``request``; a timeout or a connection failure is a retryable outcome."""
        try:
            return await request
        except TimeoutError:
            return Result(Outcome.RETRY, f"timed out after {self.timeout:g}s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            # Connection refused/reset, DNS failure: the URL is not in the message (it may hold
            # a token); the exception's class and errno-style text are.
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    # aiohttp puts "host:port" and sometimes the URL in messages; keep the reason only.
    return text.split(" [", 1)[-1].rstrip("]")[:120] if " [" in text else type(exc).__name__


RETRYABLE_STATUS = frozenset({408, 429})


def classify_http(status: int, reason: str, retry_after: str | None = None) -> Result:
    """2xx delivered; 408, 429 and 5xx retried (honouring Retry-After); any other permanent
    (docs/reference.md, "Deliveries")."""
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
