"""The built-in `log` notifier: one readable line per notification."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from ...logtags import tagged
from .base import Outcome, Result, Target

log = logging.getLogger("pxrules.alerts")

_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class LogTarget(Target):
    """``FIRING rule [severity] key=value: message``; an event rule's match says ``CHANGED``
    (its document's state is ``firing``, but nothing has started to fire)."""

    name = "log"

    def __init__(self, event_rules: Collection[str] = (), tag: str = "") -> None:
        #: Names of the event rules (the daemon updates it in place on reload).
        self.event_rules = set(event_rules)
        self._log = tagged(tag, log)  # lines start with the project's name, given several

    async def send(self, document: dict[str, Any]) -> Result:
        level = (
            logging.INFO
            if document["state"] == "resolved"
            else _LEVEL.get(str(document["severity"]), logging.WARNING)
        )
        self._log.log(
            level,
            "%s %s [%s] %s=%s: %s",
            "CHANGED" if document["rule"] in self.event_rules else document["state"].upper(),
            document["rule"],
            document["severity"],
            document["key"],
            document["value"],
            document["message"] or document["title"],
            extra={"alert": document},
        )
        return Result(Outcome.DELIVERED, "logged")
