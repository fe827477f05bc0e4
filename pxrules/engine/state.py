"""The engine's state as plain JSON-able data: the codec shared by snapshots and the store.

A state document is ``{"version": STATE_VERSION, "values": {key: row}, "tracks": {rule: {key:
row}}}`` (and ``"at"`` in a full snapshot). Times are epoch seconds: JSON-able and cheap, since
checkpoints write many rows.

>>> row = encode_track(AlertTrack(seq=3))
>>> decode_track(row).seq, decode_track(load_row(dump_row(row))) == decode_track(row)
(3, True)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ..events import parse_number, parse_time
from .tracks import AlertTrack, KeyValue, Phase

log = logging.getLogger("pxrules.rules")

#: The version of the state document and of its rows; anything else is not loaded.
STATE_VERSION = 1


def stamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def to_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return parse_time(value) if isinstance(value, str) else None


def dump_row(data: Any) -> str:
    """One value or track row as the store writes it."""
    return json.dumps(data)


def load_row(text: str) -> Any:
    return json.loads(text)


def document(
    values: dict[str, Any], tracks: dict[str, dict[str, Any]], at: datetime | None = None
) -> dict[str, Any]:
    """A state document of encoded ``values`` and ``tracks``."""
    doc: dict[str, Any] = {"version": STATE_VERSION}
    if at is not None:
        doc["at"] = stamp(at)
    doc["values"], doc["tracks"] = values, tracks
    return doc


def encode_value(e: KeyValue) -> list[Any]:
    return [e.value, e.icon, e.removed, stamp(e.last_set), e.previous]


def decode_value(saved: list[Any]) -> KeyValue:
    value, icon, removed, last_set, *rest = saved
    previous = rest[0] if rest else None
    return KeyValue(
        value,
        parse_number(value) if value is not None else None,
        previous=previous,
        previous_number=parse_number(previous) if previous is not None else None,
        removed=bool(removed),
        last_set=to_time(last_set),
        icon=icon,
    )


def encode_track(t: AlertTrack) -> dict[str, Any]:
    return {
        "phase": t.phase.value,
        "since": stamp(t.since),
        "last_fire_notice": stamp(t.last_fire_notice),
        "notified": t.notified,
        "owed": t.owed,
        "changes": [stamp(c) for c in t.changes] if t.changes else None,
        "flapping": t.flapping,
        "last_notice": stamp(t.last_notice),
        "clearing_since": stamp(t.clearing_since),
        "seq": t.seq,
        "held_due": stamp(t.held_due),
        "stale_origin": stamp(t.stale_origin),
    }


def decode_track(saved: Mapping[str, Any]) -> AlertTrack:
    return AlertTrack(
        phase=Phase(saved.get("phase", "inactive")),
        since=to_time(saved.get("since")),
        last_fire_notice=to_time(saved.get("last_fire_notice")),
        notified=bool(saved.get("notified")),
        owed=bool(saved.get("owed")),
        changes=[c for c in map(to_time, saved.get("changes") or []) if c is not None] or None,
        flapping=bool(saved.get("flapping")),
        last_notice=to_time(saved.get("last_notice")),
        clearing_since=to_time(saved.get("clearing_since")),
        seq=int(saved.get("seq", 0)),
        held_due=to_time(saved.get("held_due")),
        stale_origin=to_time(saved.get("stale_origin")),
    )


def read_state(
    state: Mapping[str, Any],
) -> tuple[dict[str, KeyValue], Iterator[tuple[str, str, AlertTrack]]] | None:
    """Decoded values and ``(rule, key, track)`` of a state document; ``None`` (with a
    warning) when its version is not :data:`STATE_VERSION`, as for a corrupt file."""
    if state.get("version") != STATE_VERSION:
        log.warning(
            "state has version %r, expected %d: starting clean", state.get("version"), STATE_VERSION
        )
        return None
    values = {key: decode_value(saved) for key, saved in state.get("values", {}).items()}
    tracks = (
        (rule, key, decode_track(saved))
        for rule, saved_tracks in state.get("tracks", {}).items()
        for key, saved in saved_tracks.items()
    )
    return values, tracks


class ChangeSet:
    """The keys and tracks touched since they were last taken, so checkpoints write only those.

    Off unless asked for (every add checks :attr:`enabled`): the sets would grow unread in
    replay and library use.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.keys: set[str] = set()
        self.tracks: set[tuple[int, str]] = set()  # (rule index, key)

    def __len__(self) -> int:
        return len(self.keys) + len(self.tracks)

    def take(
        self,
        limit: int | None,
        values: Mapping[str, KeyValue],
        tracks: list[dict[str, AlertTrack]],
        names: list[str],
        durable: Callable[[str], bool],
    ) -> dict[str, Any]:
        """A state document of at most ``limit`` changed rows (values first); the rest stay.
        A value that is gone, or whose key is not ``durable``, is ``None`` (delete its row)."""
        room = len(self) if limit is None else limit
        taken_values: dict[str, Any] = {}
        while self.keys and room > 0:
            key = self.keys.pop()
            room -= 1
            e = values.get(key)
            taken_values[key] = encode_value(e) if e is not None and durable(key) else None
        taken_tracks: dict[str, dict[str, Any]] = {}
        while self.tracks and room > 0:
            index, key = self.tracks.pop()
            room -= 1
            track = tracks[index].get(key)
            if track is not None:
                taken_tracks.setdefault(names[index], {})[key] = encode_track(track)
        return document(taken_values, taken_tracks)
