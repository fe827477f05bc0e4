"""One Apprise URL as one target: a shared Apprise object would hide which URL failed, and a
retry would re-send to the URLs that had succeeded."""

from __future__ import annotations

import asyncio
from typing import Any

import apprise

from ...alerts import group_text, is_group
from ...rules.apprise_urls import apprise_for, scheme_of
from .base import Outcome, Result, Target

# A hung plugin must not hold its worker forever. Apprise's own socket timeouts (cto/rto URL
# parameters, 4 s by default) normally end an attempt long before this.
ATTEMPT_CEILING = 120.0

_NOTIFY_TYPE = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}
_RANK = {"info": 0, "warning": 1, "critical": 2}


class AppriseTarget(Target):
    def __init__(self, name: str, url: str) -> None:
        self.name = name
        target = apprise_for(url)
        if target is None:
            raise ValueError(f"Apprise does not recognise the URL of {name} ({scheme_of(url)})")
        self._apprise = target

    async def send(self, document: dict[str, Any]) -> Result:
        if is_group(document):  # one message listing the group's alerts
            title, body = group_text(document)
            severities = [str(a.get("severity")) for a in document["alerts"]
                          if a.get("state") != "resolved"]  # fmt: skip
            worst = max(severities, key=lambda s: _RANK.get(s, 0), default="info")
            notify_type = (
                apprise.NotifyType.SUCCESS
                if document["status"] == "resolved"
                else _NOTIFY_TYPE.get(worst, apprise.NotifyType.INFO)
            )
        else:
            title, body = document["title"], document["message"] or document["title"]
            if document["state"] == "resolved":
                notify_type = apprise.NotifyType.SUCCESS
            else:
                notify_type = _NOTIFY_TYPE.get(str(document["severity"]), apprise.NotifyType.INFO)
        try:
            ok = await asyncio.wait_for(
                self._apprise.async_notify(body=body, title=title, notify_type=notify_type),
                ATTEMPT_CEILING,
            )
        except TimeoutError:
            return Result(Outcome.RETRY, f"no answer within {ATTEMPT_CEILING:g}s")
        except Exception as exc:  # a plugin bug is a failed attempt, not a crash
            return Result(Outcome.RETRY, f"Apprise raised {type(exc).__name__}")
        # Apprise reports success or failure only; a failure may be transient, so retry.
        return Result(Outcome.DELIVERED, "sent") if ok else Result(Outcome.RETRY, "Apprise failed")
