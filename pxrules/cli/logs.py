"""The one logging setup of every command: a stderr handler with the redacting formatter."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import IO

from ..daemon.redaction import RedactingFormatter

LEVELS = ["debug", "info", "warning", "error"]


def setup_logging(
    level: str = "info",
    fmt: str = "text",
    *,
    secrets: Iterable[str] = (),
    alerts_to: IO[str] | None = None,
) -> RedactingFormatter:
    """Install one stderr handler on the root logger; return its formatter (to add secrets).

    With ``alerts_to`` the lines of the built-in ``log`` notifier go there (the demo), whatever
    ``level`` lets through to stderr.
    """
    numeric = getattr(logging, level.upper(), logging.INFO)
    formatter = RedactingFormatter(fmt == "json", secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.setLevel(numeric)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(min(numeric, logging.INFO) if alerts_to is not None else numeric)
    noisy_ones = ("socketio", "engineio", "pxrules.socketio", "pxrules.engineio", "aiohttp.access")
    for noisy in (*noisy_ones, "apprise"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    if alerts_to is not None:
        alerts = logging.StreamHandler(alerts_to)
        alerts.setFormatter(logging.Formatter("%(asctime)s >>> ALERT %(message)s", "%H:%M:%S"))
        alert_log = logging.getLogger("pxrules.alerts")
        alert_log.addHandler(alerts)
        alert_log.propagate = False
    return formatter
