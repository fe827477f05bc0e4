"""The alert document (CONTRACT §4): what the engine emits and what notifiers deliver.

>>> fingerprint("greenhouse-humidity", "humidity")
'373c5a4c902ad723'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .events import format_time

AlertState = Literal["firing", "resolved"]
DOCUMENT_VERSION = "1"


def fingerprint(rule: str, key: str) -> str:
    """Stable per rule and key: the same alert across notifications, restarts and replays."""
    return hashlib.sha256(f"{rule}\x00{key}".encode()).hexdigest()[:16]


def alert_id(fingerprint_: str, sequence: int, salt: str = "") -> str:
    """Unique per notification; deterministic so a replay gives identical output.

    The daemon salts ids with a random value kept in its state file, so a fresh state file
    never reuses the ids of an old one.
    """
    return hashlib.sha256(f"{salt}\x00{fingerprint_}\x00{sequence}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification: a firing (or repeat, or event-rule match) or a resolve."""

    id: str
    fingerprint: str
    rule: str
    key: str
    state: AlertState
    severity: str
    value: str | None
    number: float | None
    previous: str | None
    since: datetime
    at: datetime
    title: str
    message: str
    version: str = DOCUMENT_VERSION

    def to_document(self) -> dict[str, Any]:
        """The JSON body of a webhook (CONTRACT §4), times as ISO-8601 UTC."""
        return {
            "version": self.version,
            "id": self.id,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "key": self.key,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "number": self.number,
            "previous": self.previous,
            "since": format_time(self.since),
            "at": format_time(self.at),
            "title": self.title,
            "message": self.message,
        }

    def text_line(self) -> str:
        """``AT STATE RULE KEY=VALUE``, the line ``replay --format text`` prints."""
        return f"{format_time(self.at)} {self.state} {self.rule} {self.key}={self.value}"
