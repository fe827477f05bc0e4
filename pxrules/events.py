"""Typed events from PxServ and the parsing that guards against malformed payloads.

>>> ev = parse_set_data({"key": "humidity", "value": "71.5"}, at=EPOCH)
>>> (ev.kind, ev.key, ev.value, ev.number)
('set', 'humidity', '71.5', 71.5)
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .errors import PxRulesError

EventKind = Literal["set", "remove"]
Origin = Literal["live", "snapshot", "replay"]

#: PxServ's own address: the default of a rules file's ``source.url`` and of the client.
DEFAULT_URL = "https://api.pxserv.net"
#: Payloads whose strings add up to more than this many UTF-8 bytes are rejected.
MAX_PAYLOAD_BYTES = 64 * 1024
#: Keys whose latest value pxrules keeps in memory (the source's and the engine's view alike);
#: past it the least recently written are forgotten (docs/reliability.md).
MAX_KEYS = 100_000
#: The largest WebSocket frame the client reads (aiohttp's default is 4 MiB; a larger frame ends
#: the connection). Far above MAX_PAYLOAD_BYTES, so an oversized value is read, counted and
#: skipped like any bad payload instead of costing the connection; bounded, so one frame cannot
#: take unbounded memory. A frame past it does end the connection: the snapshot after the
#: reconnect restores what was written meanwhile.
MAX_FRAME_BYTES = 32 * 1024 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING = object()

# A finite decimal: optional sign, digits with an optional fraction, optional exponent.
# Stricter than float(): no "nan"/"inf", no "1_000", no non-ASCII digits.
_NUMBER_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)


class MalformedEvent(PxRulesError, ValueError):
    """A PxServ payload that cannot become an :class:`Event`.

    ``code`` is a short category for counting (``not_object``, ``bad_key``, ``bad_value``,
    ``too_large``, ``bad_record``); ``reason`` is the human sentence.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Event:
    """One change of one key, as PxServ pushed it (or as replayed / fetched by snapshot)."""

    kind: EventKind
    key: str
    value: str | None
    at: datetime
    number: float | None = None
    icon: str | None = None
    origin: Origin = "live"
    last_update: str | None = field(default=None, compare=False)  # as PxServ sent it

    def __post_init__(self) -> None:
        # An event built by hand gets its number from its value, as a parsed one does (the
        # parsers build events without this check: they set both from one parse).
        if self.kind != "set":
            return
        derived = parse_number(self.value)
        if self.number is None:
            object.__setattr__(self, "number", derived)
        elif derived != self.number:
            raise ValueError(
                f"Event number {self.number!r} does not match value {self.value!r} "
                f"(leave number out: it is derived from the value)"
            )

    def to_record(self) -> dict[str, Any]:
        """The replay/record JSON-lines form of this event (docs/reference.md)."""
        if self.kind == "remove":
            return {"event": "removeData", "data": {"key": self.key}, "at": format_time(self.at)}
        data: dict[str, Any] = {"key": self.key, "value": self.value}
        if self.last_update is not None:
            data["lastUpdate"] = self.last_update
        if self.icon is not None:
            data["icon"] = self.icon
        return {"event": "setData", "data": data, "at": format_time(self.at)}


(_S_KIND, _S_KEY, _S_VALUE, _S_AT, _S_NUMBER, _S_ICON, _S_ORIGIN, _S_LAST_UPDATE) = (
    getattr(Event, name).__set__ for name in Event.__slots__
)  # the slots' own descriptors, in field order (a test builds one both ways)


def _new_event(
    kind: EventKind,
    key: str,
    value: str | None,
    at: datetime,
    number: float | None,
    icon: str | None,
    origin: Origin,
    last_update: str | None,
) -> Event:
    """``Event(...)`` for the parsers, which build one per event: the same frozen object, built
    by writing the slots directly instead of one ``object.__setattr__`` per field."""
    event: Event = object.__new__(Event)
    _S_KIND(event, kind)
    _S_KEY(event, key)
    _S_VALUE(event, value)
    _S_AT(event, at)
    _S_NUMBER(event, number)
    _S_ICON(event, icon)
    _S_ORIGIN(event, origin)
    _S_LAST_UPDATE(event, last_update)
    return event


def parse_number(value: str | None) -> float | None:
    """The finite float a value denotes, or ``None`` when it is not numeric.

    >>> parse_number(" -3 "), parse_number("1e3"), parse_number("NaN"), parse_number("")
    (-3.0, 1000.0, None, None)
    """
    if value is None or len(value) > 400 or not _NUMBER_RE.fullmatch(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def normalize_key(key: str) -> str:
    """Keys are compared in Unicode NFC form (``sıcaklık`` typed either way is one key)."""
    return key if key.isascii() else unicodedata.normalize("NFC", key)


_SECONDS: dict[tuple[int, int, int, int, int, int], str] = {}


def format_time(at: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as PxServ writes ``lastUpdate``.

    Every alert formats one or two times, so the text up to the second is cached (alerts and
    records come in bursts within the same seconds); the cache is bounded.
    """
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    second = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    prefix = _SECONDS.get(second)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = _SECONDS[second] = at.replace(microsecond=0, tzinfo=None).isoformat()
    return f"{prefix}.{at.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC. Raises ``ValueError``."""
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("timestamp must be an ISO-8601 string")
    try:  # the common form ("…Z", "…+00:00") parses as it is
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _check_key(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise MalformedEvent("not_object", f"payload is {type(payload).__name__}, not an object")
    if "key" not in payload:
        raise MalformedEvent("bad_key", "payload has no 'key'")
    key = payload["key"]
    if not isinstance(key, str):
        raise MalformedEvent("bad_key", f"'key' is {type(key).__name__}, not a string")
    if not key or key.isspace():
        raise MalformedEvent("bad_key", "'key' is empty")
    if "\x00" in key:
        raise MalformedEvent("bad_key", "'key' contains a NUL character")
    return key


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def _coerce_value(value: Any) -> str:
    # bool is an int subclass in Python but never a PxServ value.
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise MalformedEvent("bad_value", f"'value' is {'null' if value is None else 'a boolean'}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedEvent("bad_value", "'value' is not a finite number")
        return repr(value)
    raise MalformedEvent("bad_value", f"'value' is {type(value).__name__}, not a string or number")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedEvent(
            "bad_unicode", f"{what} is not valid Unicode (lone surrogate)"
        ) from exc


def parse_set_data(payload: Any, *, at: datetime, origin: Origin = "live") -> Event:
    """Turn a ``setData`` payload into an :class:`Event`; raise :class:`MalformedEvent` if bad."""
    key = _check_key(payload)
    value = payload.get("value", _MISSING)
    if type(value) is not str:  # the common case is a string: one test
        if value is _MISSING:
            raise MalformedEvent("bad_value", "setData payload has no 'value'")
        value = _coerce_value(value)
    icon = payload.get("icon")
    if icon is not None and not isinstance(icon, str):
        raise MalformedEvent("bad_icon", f"'icon' is {type(icon).__name__}, not a string")
    ascii_key = key.isascii()
    if ascii_key and value.isascii():  # the common case: 1 byte a char, no surrogates
        size = len(key) + len(value) + (_utf8_size(icon) if icon else 0)
    else:
        _check_text(key, "'key'")
        _check_text(value, "'value'")
        size = _utf8_size(key) + _utf8_size(value) + (_utf8_size(icon) if icon else 0)
    if size > MAX_PAYLOAD_BYTES:
        raise MalformedEvent(
            "too_large", f"payload is {size} bytes, over the {MAX_PAYLOAD_BYTES} byte limit"
        )
    # Informational only, kept as sent (parsed when a record needs it as its time).
    raw_update = payload.get("lastUpdate")
    last_update = raw_update if isinstance(raw_update, str) and len(raw_update) <= 64 else None
    if not ascii_key:
        key = unicodedata.normalize("NFC", key)
    return _new_event("set", key, value, at, parse_number(value), icon, origin, last_update)


def parse_remove_data(payload: Any, *, at: datetime, origin: Origin = "live") -> Event:
    """Turn a ``removeData`` payload into an :class:`Event`; raise :class:`MalformedEvent`."""
    key = _check_key(payload)
    if _utf8_size(key) > MAX_PAYLOAD_BYTES:
        raise MalformedEvent("too_large", "key is over the size limit")
    _check_text(key, "'key'")
    return _new_event("remove", normalize_key(key), None, at, None, None, origin, None)


def parse_record(record: Any) -> Event:
    """Parse one replay/record line (already JSON-decoded) (docs/reference.md) into an Event."""
    if not isinstance(record, dict):
        raise MalformedEvent(
            "bad_record", 'record is not an object like {"event": "setData", "data": …, "at": …}'
        )
    kind = record.get("event")
    data = record.get("data")
    raw_at = record.get("at")
    at: datetime | None = None
    if raw_at is not None:
        try:
            at = parse_time(raw_at)
        except (ValueError, TypeError) as exc:
            raise MalformedEvent(
                "bad_record", f"'at' is not an ISO-8601 time: {raw_at!r:.60}"
            ) from exc
    if kind == "setData":
        if at is None:
            raw_update = data.get("lastUpdate") if isinstance(data, dict) else None
            if raw_update is None:
                raise MalformedEvent(
                    "bad_record", "setData record has neither 'at' nor 'data.lastUpdate'"
                )
            try:
                at = parse_time(raw_update)
            except (ValueError, TypeError) as exc:
                raise MalformedEvent(
                    "bad_record", "'data.lastUpdate' is not an ISO-8601 time"
                ) from exc
        return parse_set_data(data, at=at, origin="replay")
    if kind == "removeData":
        if at is None:
            raise MalformedEvent("bad_record", "removeData record needs 'at'")
        return parse_remove_data(data, at=at, origin="replay")
    raise MalformedEvent(
        "bad_record",
        f"'event' must be 'setData' or 'removeData', not {kind!r:.40}: a replay record is "
        '{"event": "setData", "data": {"key": …, "value": …}, "at": "ISO-8601"}, as '
        "pxrules tail prints it",
    )
