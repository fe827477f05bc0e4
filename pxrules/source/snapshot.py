"""The snapshot after each (re)connect: what changed while the source was away, as events.

>>> from datetime import datetime, UTC
>>> at = datetime(2025, 1, 1, tzinfo=UTC)
>>> view = KnownValues()
>>> view.saw("door", "0"); view.saw("gone", "1")
>>> view.begin()
>>> [(e.kind, e.key, e.value) for e in view.diff({"door": "1"}, at, print)]
[('set', 'door', '1'), ('remove', 'gone', None)]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..events import MAX_KEYS, Event, MalformedEvent, parse_set_data


class KnownValues:
    """The latest value the source emitted per key, and the keys set live during a fetch.

    A removed key is forgotten. Past ``max_keys`` the keys known longest are forgotten, a
    sixteenth at a time: the next snapshot sends such a key again even if it did not change,
    and cannot tell that it vanished.
    """

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.known: dict[str, str] = {}
        self.max_keys = max_keys
        self._touched: set[str] | None = None  # set while a snapshot is in flight

    def saw(self, key: str, value: str | None) -> None:
        known = self.known
        if value is None:
            known.pop(key, None)
        else:
            if key not in known and len(known) >= self.max_keys:
                for old in list(itertools.islice(known, max(1, self.max_keys // 16))):
                    del known[old]
            known[key] = value
        if self._touched is not None:
            self._touched.add(key)

    def begin(self) -> None:
        """A snapshot is being fetched: remember the keys set live meanwhile."""
        self._touched = set()

    def abandon(self) -> None:
        self._touched = None

    def diff(
        self,
        data: Mapping[str, Any],
        at: datetime,
        on_malformed: Callable[[MalformedEvent], None],
    ) -> list[Event]:
        """Events for values that differ from what is known and for keys that vanished; a key
        set live during the fetch is newer than the snapshot's copy of it and is left alone."""
        touched, self._touched = self._touched or set(), None
        events: list[Event] = []
        seen: set[str] = set()
        for raw_key, raw_value in data.items():
            try:
                event = parse_set_data(
                    {"key": raw_key, "value": raw_value}, at=at, origin="snapshot"
                )
            except MalformedEvent as exc:
                on_malformed(exc)
                continue
            seen.add(event.key)
            if event.key not in touched and self.known.get(event.key) != event.value:
                events.append(event)
        for key in self.known:
            if key not in seen and key not in touched:
                events.append(Event(kind="remove", key=key, value=None, at=at, origin="snapshot"))
        return events
