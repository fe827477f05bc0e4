"""Silences: matchers on an alert's labels and a time span during which it notifies nobody.

A silenced alert is still tracked (its state and its timers go on); only its notifications are
held back. When the silence ends, what the receivers were not told is told then: the firing
notification of an alert still firing, or the resolve of one they were told was firing. A
resolve of an alert whose firing was never sent is never sent (docs/noise.md has timelines).

>>> from datetime import UTC, datetime, timedelta
>>> t = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
>>> s = Silence.create(parse_matchers(["rule=freezer*", "key=kitchen/*"]), starts_at=t,
...                    ends_at=t + timedelta(hours=2), comment="defrost", id="s1")
>>> s.matches({"rule": "freezer-warm", "key": "kitchen/freezer", "severity": "critical"})
True
>>> s.matches({"rule": "freezer-warm", "key": "garage/freezer", "severity": "critical"})
False
>>> s.state(t - timedelta(seconds=1)), s.state(t), s.state(t + timedelta(hours=2))
('pending', 'active', 'expired')
"""

from __future__ import annotations

import fnmatch
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from ..events import format_time, parse_time
from ..rules.durations import parse_duration

#: The labels a silence (or any matcher) can name.
MATCHER_NAMES = ("project", "rule", "key", "severity")
SilenceState = Literal["pending", "active", "expired"]
#: A silence's comment, who made it, and its matchers are bounded: they are stored and shown.
MAX_TEXT = 1000


class SilenceError(ValueError):
    """A silence that cannot be made: a bad matcher, duration or time span."""


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> Callable[[str], Any]:
    return re.compile(fnmatch.translate(pattern)).match


def parse_matchers(items: Iterable[str]) -> dict[str, str]:
    """``["rule=freezer*", "key=kitchen/*"]`` → ``{"rule": "freezer*", "key": "kitchen/*"}``.

    >>> parse_matchers(["rule=a*"])
    {'rule': 'a*'}
    >>> try:
    ...     parse_matchers(["colour=red"])
    ... except SilenceError as exc:
    ...     print(exc)
    'colour=red': a matcher names one of project, rule, key, severity
    """
    matchers: dict[str, str] = {}
    for item in items:
        name, sep, glob = item.partition("=")
        name = name.strip()
        if not sep or not glob:
            raise SilenceError(f"{item!r}: a matcher is NAME=GLOB, e.g. rule='freezer*'")
        matchers[name] = glob
    return check_matchers(matchers)


def check_matchers(matchers: Mapping[str, Any]) -> dict[str, str]:
    """The matchers, checked: known names, string globs, at least one."""
    checked: dict[str, str] = {}
    for name, glob in matchers.items():
        if name not in MATCHER_NAMES:
            shown = f"{name}={glob}" if isinstance(glob, str) else name
            raise SilenceError(f"{shown!r}: a matcher names one of {', '.join(MATCHER_NAMES)}")
        if not isinstance(glob, str) or not glob or len(glob) > MAX_TEXT:
            raise SilenceError(f"matcher {name!r}: a glob (a non-empty string) is expected")
        checked[name] = glob
    if not checked:
        raise SilenceError("a silence needs at least one matcher (e.g. rule=NAME)")
    return checked


@dataclass(frozen=True)
class Silence:
    """Alerts whose labels match every matcher notify nobody from ``starts_at`` until
    ``ends_at``. Expiring a silence sets its end to now; it stays listed as expired."""

    id: str
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""
    _match: tuple[tuple[str, Callable[[str], Any]], ...] = field(
        default=(), repr=False, compare=False
    )

    def __post_init__(self) -> None:
        compiled = tuple((name, _glob(glob)) for name, glob in self.matchers.items())
        object.__setattr__(self, "_match", compiled)

    @classmethod
    def create(
        cls,
        matchers: Mapping[str, Any],
        *,
        starts_at: datetime,
        ends_at: datetime | None = None,
        duration: str | float | None = None,
        comment: str = "",
        created_by: str = "",
        id: str | None = None,
    ) -> Silence:
        """A new silence, checked: an end (or a positive duration) after its start."""
        if (ends_at is None) == (duration is None):
            raise SilenceError("a silence needs an end: give ends_at or a duration, not both")
        if duration is not None:
            seconds = _seconds(duration)
            if seconds is None or seconds <= 0:
                raise SilenceError(f"duration {duration!r}: a positive duration such as 2h")
            ends_at = starts_at + timedelta(seconds=seconds)
        assert ends_at is not None
        if ends_at <= starts_at:
            raise SilenceError("a silence must end after it starts")
        for what, text in (("comment", comment), ("created_by", created_by)):
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                raise SilenceError(f"{what}: a string of at most {MAX_TEXT} characters")
        return cls(
            id or uuid.uuid4().hex,
            check_matchers(matchers),
            starts_at,
            ends_at,
            comment,
            created_by,
        )

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def state(self, at: datetime) -> SilenceState:
        if at < self.starts_at:
            return "pending"
        return "active" if at < self.ends_at else "expired"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(match(labels.get(name, "")) for name, match in self._match)

    def expired_at(self, at: datetime) -> Silence:
        """This silence ended at ``at`` (a pending one is moved to end where it would have
        started from: it is never active)."""
        if at < self.starts_at:
            return replace(self, starts_at=at, ends_at=at)
        return replace(self, ends_at=min(self.ends_at, at))

    def to_document(self, at: datetime | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "matchers": dict(self.matchers),
            "starts_at": format_time(self.starts_at),
            "ends_at": format_time(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
        }
        if at is not None:
            doc["state"] = self.state(at)
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, now: datetime | None = None) -> Silence:
        """A silence from its document (a file given to replay, a POST, a stored row):
        ``matchers``, ``starts_at`` (default ``now``), ``ends_at`` or ``duration``,
        ``comment``, ``created_by``, ``id``."""
        if not isinstance(doc, Mapping):
            raise SilenceError("a silence is a mapping with matchers and ends_at or duration")
        unknown = set(doc) - {
            "id", "matchers", "starts_at", "ends_at", "duration", "comment", "created_by",
            "state",
        }  # fmt: skip
        if unknown:
            raise SilenceError(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        matchers = doc.get("matchers")
        if not isinstance(matchers, Mapping):
            raise SilenceError("matchers: a mapping such as {rule: 'freezer*'} is expected")
        starts_at = _time(doc.get("starts_at"), "starts_at") or now
        if starts_at is None:
            raise SilenceError("starts_at is missing")
        ident = doc.get("id")
        if ident is not None and (not isinstance(ident, str) or not 0 < len(ident) <= 64):
            raise SilenceError("id: a string of at most 64 characters")
        return cls.create(
            matchers,
            starts_at=starts_at,
            ends_at=_time(doc.get("ends_at"), "ends_at"),
            duration=doc.get("duration"),
            comment=doc.get("comment", ""),
            created_by=doc.get("created_by", ""),
            id=ident,
        )


def _seconds(duration: Any) -> float | None:
    try:
        return parse_duration(duration)
    except ValueError:
        return None


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return parse_time(value)
    except ValueError:
        raise SilenceError(
            f"{what}: an ISO-8601 time such as 2025-01-01T02:00:00Z is expected"
        ) from None


class SilenceBook:
    """The silences an engine consults. Thread-safe; whoever changes it calls the listeners
    (an engine re-checks the notifications it holds back when a silence ends early)."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {s.id: s for s in silences}
        self._listeners: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._silences)

    def all(self) -> list[Silence]:
        """Every silence, by start time."""
        with self._lock:
            return sorted(self._silences.values(), key=lambda s: (s.starts_at, s.id))

    def get(self, ident: str) -> Silence | None:
        return self._silences.get(ident)

    def add(self, silence: Silence) -> Silence:
        """Add (or replace, by id) a silence."""
        with self._lock:
            self._silences[silence.id] = silence
        self._changed()
        return silence

    def expire(self, ident: str, at: datetime) -> Silence | None:
        """End a silence at ``at``; ``None`` if there is no such silence."""
        with self._lock:
            silence = self._silences.get(ident)
            if silence is None:
                return None
            silence = self._silences[ident] = silence.expired_at(at)
        self._changed()
        return silence

    def prune(self, before: datetime) -> list[str]:
        """Forget silences that ended before ``before``; their ids."""
        with self._lock:
            gone = [i for i, s in self._silences.items() if s.ends_at < before]
            for ident in gone:
                del self._silences[ident]
        return gone

    def silencing(self, labels: Mapping[str, str], at: datetime) -> Silence | None:
        """The first silence active at ``at`` that matches ``labels``."""
        for silence in self._silences.values():  # a copy is not needed: dict reads are atomic
            if silence.starts_at <= at < silence.ends_at and silence.matches(labels):
                return silence
        return None

    def next_end(self, after: datetime) -> datetime | None:
        """The earliest end of a silence after ``after`` (when held notifications may go)."""
        ends = [s.ends_at for s in list(self._silences.values()) if s.ends_at > after]
        return min(ends) if ends else None

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every change; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
