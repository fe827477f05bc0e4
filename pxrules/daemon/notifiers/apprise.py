"""One Apprise URL as one target (PITFALLS: a shared Apprise object hides which URL failed)."""

from __future__ import annotations

import asyncio
from typing import Any

import apprise

from .base import Outcome, Result

# A hung plugin must not hold its worker forever. Apprise's own socket timeouts (cto/rto URL
# parameters, 4 s by default) normally end an attempt long before this.
ATTEMPT_CEILING = 120.0

_NOTIFY_TYPE = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}


def scheme_of(url: str) -> str:
    """What may be shown of an Apprise URL: its scheme only (the rest can hold tokens)."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "…"


class AppriseTarget:
    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ValueError(f"Apprise does not recognise the URL of {name} ({scheme_of(url)})")

    async def send(self, document: dict[str, Any]) -> Result:
        if document["state"] == "resolved":
            notify_type = apprise.NotifyType.SUCCESS
        else:
            notify_type = _NOTIFY_TYPE.get(str(document["severity"]), apprise.NotifyType.INFO)
        try:
            ok = await asyncio.wait_for(
                self._apprise.async_notify(
                    body=document["message"] or document["title"],
                    title=document["title"],
                    notify_type=notify_type,
                ),
                ATTEMPT_CEILING,
            )
        except TimeoutError:
            return Result(Outcome.RETRY, f"no answer within {ATTEMPT_CEILING:g}s")
        except Exception as exc:  # a plugin bug is a failed attempt, not a crash
            return Result(Outcome.RETRY, f"Apprise raised {type(exc).__name__}")
        # Apprise reports success or failure only; a failure may be transient, so retry.
        return Result(Outcome.DELIVERED, "sent") if ok else Result(Outcome.RETRY, "Apprise failed")

    async def close(self) -> None:
        return None
