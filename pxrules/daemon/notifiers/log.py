"""The built-in `log` notifier: one readable line per notification."""

from __future__ import annotations

import logging
from typing import Any

from .base import Outcome, Result, Target

log = logging.getLogger("pxrules.alerts")

_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class LogTarget(Target):
    name = "log"

    async def send(self, document: dict[str, Any]) -> Result:
        level = (
            logging.INFO
            if document["state"] == "resolved"
            else _LEVEL.get(str(document["severity"]), logging.WARNING)
        )
        log.log(
            level,
            "%s %s [%s] %s=%s: %s",
            document["state"].upper(),
            document["rule"],
            document["severity"],
            document["key"],
            document["value"],
            document["message"] or document["title"],
            extra={"alert": document},
        )
        return Result(Outcome.DELIVERED, "logged")
