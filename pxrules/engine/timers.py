"""One heap of timers and one scheduler wake-up for the earliest of them.

Cheap for many keys (one scheduled item, not one per timer), and timers due at the same instant
fire in a fixed order — due time, then rule (its position in the file), then key, then kind —
whatever the history. Timers are lazy: re-arming one leaves the older heap entry in place, and
an entry whose token no longer matches its track is skipped when it comes up.

A wake-up that comes far later than it was due (the process was frozen, the machine slept)
can be held (``on_late``): the timers wait in the heap until :meth:`TimerHeap.release`, so the
events that arrived meanwhile are applied before time-driven alerts are judged.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from reactivex import abc as rx_abc

from .tracks import AlertTrack

#: Timers due at the same instant on the same rule and key run in this order (a hold that ends
#: first sends what it held, so an alert firing again that instant is told after it).
TIMER_RANK = {"release": -1, "debounce": 0, "stale": 1, "for": 2, "keep": 3, "repeat": 4, "flap": 6}

#: Called for each live timer that fell due: (rule index, key, track, timer name, due time).
OnTimer = Callable[[int, str, AlertTrack, str, datetime], None]

#: A wake-up this many seconds late is a clock jump (a freeze or a sleep), not load.
LATE_SECONDS = 5.0


class TimerHeap:
    """Timers of every rule and key; ``on_timer`` runs under ``lock`` for each live one due."""

    def __init__(
        self,
        scheduler: rx_abc.SchedulerBase,
        lock: threading.RLock,
        tracks: list[dict[str, AlertTrack]],
        on_timer: OnTimer,
        on_late: Callable[[float], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.on_late = on_late  # given: a late wake-up holds the timers and calls it
        self.held = False
        self._released_at: datetime | None = None  # timers due before it are late by design
        self._lock = lock
        self._tracks = tracks  # by rule index
        self._on_timer = on_timer
        self._heap: list[tuple[datetime, int, str, int, int, str]] = []
        self._tokens = itertools.count()
        self._wake: rx_abc.DisposableBase | None = None
        self._wake_due: datetime | None = None
        self._disposed = False

    def schedule(self, index: int, key: str, track: AlertTrack, name: str, due: datetime) -> None:
        """(Re)arm timer ``name`` of this track at ``due``; an older entry becomes stale."""
        token = next(self._tokens)
        track.timers[name] = token
        heapq.heappush(self._heap, (due, index, key, TIMER_RANK[name], token, name))
        if self._wake_due is None or due < self._wake_due:
            self._arm(due)

    def ensure(self, index: int, key: str, track: AlertTrack, name: str, due: datetime) -> None:
        """Schedule ``name`` at ``due`` unless one is pending (it re-checks its due on firing)."""
        if name not in track.timers:
            self.schedule(index, key, track, name, due)

    @staticmethod
    def cancel(track: AlertTrack, name: str) -> None:
        track.timers.pop(name, None)  # its heap entry is skipped when it comes up

    def dispose(self) -> None:
        self._disposed = True
        if self._wake is not None:
            self._wake.dispose()
        self._wake = self._wake_due = None
        self._heap.clear()

    def _arm(self, due: datetime) -> None:
        if self._wake is not None:
            self._wake.dispose()
        self._wake_due = due
        self._wake = self.scheduler.schedule_absolute(due, self._on_wake)

    def release(self) -> None:
        """Let held timers fire (those overdue at once, at their own due times)."""
        with self._lock:
            self.held = False
            self._released_at = self.scheduler.now
            if self._heap and not self._disposed:
                self._arm(self._heap[0][0])

    def _late_now(self) -> bool:
        """A wake-up late enough to be a clock jump: hold the timers and tell ``on_late``."""
        assert self._wake_due is not None and self.on_late is not None
        late = (self.scheduler.now - self._wake_due).total_seconds()
        judged = self._released_at is not None and self._wake_due <= self._released_at
        if late <= LATE_SECONDS or judged:
            return False
        self.held = True
        self._wake = self._wake_due = None
        self.on_late(late)
        return True

    def _on_wake(self, _scheduler: rx_abc.SchedulerBase, _state: Any = None) -> None:
        with self._lock:
            if self._disposed or self._wake_due is None:
                return
            if self.held:
                self._wake = self._wake_due = None  # release() re-arms
                return
            if self.on_late is not None and self._late_now():
                return
            # Everything due by the wake-up time counts as due (a live clock may read a hair early).
            horizon = max(self.scheduler.now, self._wake_due)
            self._wake = self._wake_due = None
            heap, tracks = self._heap, self._tracks
            while heap and heap[0][0] <= horizon:
                due, index, key, _, token, name = heapq.heappop(heap)
                track = tracks[index].get(key)
                if track is None or track.timers.get(name) != token:
                    continue  # cancelled or re-armed since
                del track.timers[name]
                self._on_timer(index, key, track, name, due)
            if heap and not self._disposed:
                self._arm(heap[0][0])
