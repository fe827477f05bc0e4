"""Back-testing: run rules over recorded events in virtual time (the replay format is in
docs/reference.md).

>>> from pxrules.engine import RuleSet
>>> ruleset = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 30}, for: 60}]")
>>> alerts = []
>>> replayer = Replayer(ruleset, alerts.append)
>>> for at, value in [("12:00:00", "31"), ("12:00:30", "32")]:
...     data = {"key": "t", "value": value}
...     replayer.feed(parse_record({"event": "setData", "data": data, "at": f"2025-01-01T{at}Z"}))
>>> replayer.finish()
>>> [alert.text_line() for alert in alerts]
['2025-01-01T12:01:00.000Z firing hot t=32']

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
from typing import Any, TypeVar, cast

from reactivex import abc as rx_abc
from reactivex import typing
from reactivex.internal.exceptions import ArgumentOutOfRangeException
from reactivex.scheduler import HistoricalScheduler
from reactivex.scheduler.scheduleditem import ScheduledItem

from ..alerts import Alert
from ..events import Event, MalformedEvent, parse_record
from ..fastjson import decode_record
from .engine import Engine
from .gate import Suppressed
from .ruleset import RuleSet
from .silences import SilenceBook

log = logging.getLogger("pxrules.replay")

MAX_LINE_BYTES = 1024 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True)
class RecordError:
    """A line of the events file that is not a valid record."""

    line: int
    message: str


def read_records(
    path: Path, progress: Callable[[int, int], None] | None = None
) -> Iterator[tuple[int, Event | RecordError]]:
    """Stream ``(line number, event or error)`` from a JSON-lines file; blank lines are skipped.

    ``progress`` is called with the lines and bytes read so far, every few thousand lines.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None and not number % 4096:
                progress(number, handle.tell())
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield number, RecordError(number, "line is longer than 1 MiB")
                continue
            try:
                record = decode_record(raw, number == 1)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield number, RecordError(number, f"not JSON: {exc}")
                continue
            try:
                yield number, parse_record(record)
            except MalformedEvent as exc:
                yield number, RecordError(number, exc.reason)


class ReplayClock(HistoricalScheduler):
    """The replay's virtual clock: a :class:`HistoricalScheduler` whose clock moves without
    taking a lock or converting times, since replay advances it once per record.

    ``advance_to`` runs the scheduled work due by ``time`` in due order, each at its due time,
    exactly as the base class does, but single-threaded: replay never touches it from another
    thread. Most records find nothing due and only move the clock.
    """

    @property
    def now(self) -> datetime:
        return cast(datetime, self._clock)  # only datetimes are ever set here

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: rx_abc.ScheduledAction[_T],
        state: _T | None = None,
    ) -> rx_abc.DisposableBase:
        due = duetime if isinstance(duetime, datetime) else self.to_datetime(duetime)
        item: ScheduledItem = ScheduledItem(self, state, action, due)
        self._queue.enqueue(item)
        return item.disposable

    def advance_to(self, time: datetime) -> None:  # type: ignore[override]
        if time < self.now:
            raise ArgumentOutOfRangeException()
        if self._is_enabled:  # called from scheduled work: the running loop goes on
            return
        queue = self._queue
        if queue and queue.peek().duetime <= time:
            self._is_enabled = True
            try:
                while queue:
                    item = queue.peek()
                    if item.duetime > time:
                        break
                    queue.dequeue()
                    if item.duetime > self.now:
                        self._clock = item.duetime
                    if not item.is_cancelled():
                        item.invoke()
            finally:
                self._is_enabled = False
        self._clock = time


class Replayer:
    """Feeds events to an :class:`Engine` on a historical clock."""

    def __init__(
        self,
        ruleset: RuleSet,
        emit: Callable[[Alert], None],
        *,
        state: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        silences: SilenceBook | None = None,
        project: str | None = None,
        on_suppressed: Callable[[Suppressed], None] | None = None,
    ) -> None:
        self.ruleset = ruleset
        self._emit = emit
        self._silences, self._project, self._on_suppressed = silences, project, on_suppressed
        self._state = state
        self._start = start
        self.scheduler: ReplayClock | None = None
        self.engine: Engine | None = None
        self.out_of_order = 0

    def _ensure_engine(self, first: datetime) -> Engine:
        if self.engine is None:
            self.scheduler = ReplayClock(initial_clock=self._start or first)
            self.engine = Engine(
                self.ruleset, self.scheduler, self._emit, state=self._state,
                silences=self._silences, project=self._project, on_suppressed=self._on_suppressed,
            )  # fmt: skip
        return self.engine

    def feed(self, event: Event) -> None:
        engine, scheduler, at = self.engine, self.scheduler, event.at
        if engine is None or scheduler is None:
            engine = self._ensure_engine(at)
            scheduler = self.scheduler
            assert scheduler is not None
        now = scheduler.now
        if at > now:
            scheduler.advance_to(at)
        elif at < now:
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

    def begin(self, at: datetime) -> ReplayClock:
        """Start the engine and its clock at ``at`` (the first record's time) if not yet."""
        self._ensure_engine(at)
        assert self.scheduler is not None
        return self.scheduler

    def run_until(self, moment: datetime) -> None:
        """Let timers fire up to ``moment``."""
        if self.scheduler is None:
            self._ensure_engine(self._start or moment)
        assert self.scheduler is not None
        if moment > self.scheduler.now:
            self.scheduler.advance_to(moment)

    def snapshot(self) -> dict[str, Any]:
        assert self.engine is not None
        return self.engine.snapshot()
