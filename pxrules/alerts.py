"""The alert document (docs/reference.md): what the engine emits and what notifiers deliver.

>>> fingerprint("greenhouse-humidity", "humidity")
'373c5a4c902ad723'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .events import format_time

#: ``flapping``: the alert changes state too often (a rule's ``flapping``); its notifications
#: are held until it is stable.
AlertState = Literal["firing", "resolved", "flapping"]
DOCUMENT_VERSION = "1"


def fingerprint(rule: str, key: str) -> str:
    """Stable per rule and key: the same alert across notifications, restarts and replays."""
    return hashlib.sha256(f"{rule}\x00{key}".encode()).hexdigest()[:16]


def alert_id_base(fingerprint_: str, salt: str = "") -> str:
    """The first half of the ids of one rule+key's notifications (see :func:`alert_id`)."""
    if not salt:
        return fingerprint_
    return hashlib.sha256(f"{salt}\x00{fingerprint_}".encode()).hexdigest()[:16]


def alert_id(fingerprint_: str, sequence: int, salt: str = "") -> str:
    """Unique per notification; deterministic so a replay gives identical output.

    32 hex digits: 16 that name the rule+key (its fingerprint, or with a salt a hash of both),
    then the notification's sequence number. The daemon salts ids with a random value kept in
    its state file, so a fresh state file never reuses the ids of an old one. The engine keeps
    the first half per rule+key, so an alert costs no hashing.
    """
    return f"{alert_id_base(fingerprint_, salt)}{sequence:016x}"


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
    project: str = ""  # the rules file's project (``project:``, or the file's name)
    version: str = DOCUMENT_VERSION

    def to_document(self) -> dict[str, Any]:
        """The JSON body of a webhook (docs/reference.md), times as ISO-8601 UTC."""
        return {
            "version": self.version,
            "id": self.id,
            "fingerprint": self.fingerprint,
            "project": self.project,
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


# The slots' own descriptors, in field order (a test builds an Alert both ways).
(_S_ID, _S_FP, _S_RULE, _S_KEY, _S_STATE, _S_SEVERITY, _S_VALUE, _S_NUMBER, _S_PREVIOUS, _S_SINCE,
 _S_AT, _S_TITLE, _S_MESSAGE, _S_PROJECT, _S_VERSION) = (
    getattr(Alert, name).__set__ for name in Alert.__slots__
)  # fmt: skip


def new_alert(
    id: str,
    fingerprint: str,
    rule: str,
    key: str,
    state: AlertState,
    severity: str,
    value: str | None,
    number: float | None,
    previous: str | None,
    since: datetime,
    at: datetime,
    title: str,
    message: str,
    project: str = "",
) -> Alert:
    """``Alert(...)`` for the engine's hot path: the same frozen object, built about twice as
    fast by writing the slots directly instead of one ``object.__setattr__`` per field
    (a test checks it equals the dataclass constructor)."""
    alert: Alert = object.__new__(Alert)
    _S_ID(alert, id)
    _S_FP(alert, fingerprint)
    _S_RULE(alert, rule)
    _S_KEY(alert, key)
    _S_STATE(alert, state)
    _S_SEVERITY(alert, severity)
    _S_VALUE(alert, value)
    _S_NUMBER(alert, number)
    _S_PREVIOUS(alert, previous)
    _S_SINCE(alert, since)
    _S_AT(alert, at)
    _S_TITLE(alert, title)
    _S_MESSAGE(alert, message)
    _S_PROJECT(alert, project)
    _S_VERSION(alert, DOCUMENT_VERSION)
    return alert


# -- group notifications (a notifier's ``group:``) --------------------------------------------


def is_group(document: dict[str, Any]) -> bool:
    """Whether a notification document is a group notification (it lists ``alerts``)."""
    return "alerts" in document and "group_key" in document


def group_document(id: str, group_key: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a grouped notifier's notification: ``{version, id, group_key, status,
    alerts}``; ``status`` is ``firing`` while any alert in it is not resolved.

    >>> doc = group_document("g1", 'hook{rule="hot"}', [{"state": "resolved"}])
    >>> doc["status"], len(doc["alerts"])
    ('resolved', 1)
    """
    firing = any(a.get("state") != "resolved" for a in alerts)
    return {
        "version": DOCUMENT_VERSION,
        "id": id,
        "group_key": group_key,
        "status": "firing" if firing else "resolved",
        "alerts": alerts,
    }


def group_text(document: dict[str, Any], limit: int = 20) -> tuple[str, str]:
    """Title and body of a group notification for a chat or e-mail notifier: one line per
    alert (at most ``limit``, then how many more).

    >>> doc = group_document("g", 'phone{gw="g7"}', [
    ...     {"state": "firing", "title": "t1 stale", "message": "no reading"},
    ...     {"state": "resolved", "title": "t2 resolved", "message": ""}])
    >>> print(*group_text(doc), sep="\\n")
    FIRING (1 firing, 1 resolved): phone{gw="g7"}
    • t1 stale: no reading
    • t2 resolved
    """
    alerts = document["alerts"]
    resolved = sum(1 for a in alerts if a.get("state") == "resolved")
    title = (
        f"{document['status'].upper()} ({len(alerts) - resolved} firing, {resolved} resolved): "
        f"{document['group_key']}"
    )
    lines = [
        f"• {a.get('title')}: {a.get('message')}" if a.get("message") else f"• {a.get('title')}"
        for a in alerts[:limit]
    ]
    if len(alerts) > limit:
        lines.append(f"… and {len(alerts) - limit} more")
    return title, "\n".join(lines)
