"""Back-testing: run rules over recorded events in virtual time (CONTRACT §5).

>>> replayer = Replayer(ruleset, alerts.append)              # doctest: +SKIP
>>> for event in events: replayer.feed(event)                # doctest: +SKIP
>>> replayer.finish()                                        # doctest: +SKIP

A :class:`~reactivex.scheduler.HistoricalScheduler` is advanced to each record's ``at`` before the
record is fed, so every timer (``for``, ``stale``, ``repeat`` …) fires at its exact virtual time
between records. Nothing sleeps; memory does not grow with the length of the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reactivex.scheduler import HistoricalScheduler

from .alerts import Alert
from .events import Event, MalformedEvent, parse_record
from .rules import Engine, RuleSet

log = logging.getLogger("pxrules.replay")

MAX_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RecordError:
    """A line of the events file that is not a valid record."""

    line: int
    message: str


def read_records(path: Path) -> Iterator[tuple[int, Event | RecordError]]:
    """Stream ``(line number, event or error)`` from a JSON-lines file; blank lines are skipped."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield number, RecordError(number, "line is longer than 1 MiB")
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield number, RecordError(number, f"not JSON: {exc}")
                continue
            try:
                yield number, parse_record(record)
            except MalformedEvent as exc:
                yield number, RecordError(number, exc.reason)


class Replayer:
    """Feeds events to an :class:`Engine` on a historical clock."""

    def __init__(
        self,
        ruleset: RuleSet,
        emit: Callable[[Alert], None],
        *,
        state: Mapping[str, Any] | None = None,
        start: datetime | None = None,
    ) -> None:
        self.ruleset = ruleset
        self._emit = emit
        self._state = state
        self._start = start
        self.scheduler: HistoricalScheduler | None = None
        self.engine: Engine | None = None
        self.out_of_order = 0

    def _ensure_engine(self, first: datetime) -> Engine:
        if self.engine is None:
            self.scheduler = HistoricalScheduler(initial_clock=self._start or first)
            self.engine = Engine(self.ruleset, self.scheduler, self._emit, state=self._state)
        return self.engine

    def feed(self, event: Event) -> None:
        engine = self._ensure_engine(event.at)
        assert self.scheduler is not None
        if event.at > self.scheduler.now:
            self.scheduler.advance_to(event.at)
        elif event.at < self.scheduler.now:
            self.out_of_order += 1  # processed at the current virtual time
        engine.on_event(event)

    def finish(self, flush: float | None = None) -> None:
        """Let timers fire up to the last record's time plus the longest duration in the rules."""
        if self.scheduler is None:
            if self._start is None:
                return  # nothing was ever fed: no clock to advance
            self._ensure_engine(self._start)
        assert self.scheduler is not None
        span = self.ruleset.config.longest_duration if flush is None else flush
        self.scheduler.advance_to(self.scheduler.now + timedelta(seconds=span))

    def snapshot(self) -> dict[str, Any]:
        assert self.engine is not None
        return self.engine.snapshot()
