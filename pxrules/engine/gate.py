"""The notification gate: what the alert machine asks before it notifies.

An alert whose notification is held back (today: by a silence) keeps its state and timers; the
machine marks its track ``owed`` when receivers were not told something they should be told
later — a firing they never saw, or the resolve of a firing they did see. The gate keeps those
tracks and, when a silence ends (its end time, or expired early), hands each back to the machine
(:meth:`~pxrules.engine.machine.AlertMachine.release`), which sends what is still true then.

Time comes from the engine's timers, so replay and tests see the same releases at the same
virtual times as the daemon does live.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..alerts import AlertState
from .compiled import CompiledRule
from .silences import Silence, SilenceBook
from .timers import TimerHeap
from .tracks import AlertTrack, EngineStats

if TYPE_CHECKING:
    from .machine import AlertMachine

log = logging.getLogger("pxrules.rules")


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A notification that was not sent, and why (``replay --show-suppressed`` prints these)."""

    at: datetime
    reason: str  # "silenced"
    state: AlertState
    rule: str
    key: str
    value: str | None
    by: str  # what suppressed it: the silence's id

    def text_line(self) -> str:
        from ..events import format_time

        return (
            f"{format_time(self.at)} {self.reason} {self.state} {self.rule} "
            f"{self.key}={self.value} (silence {self.by})"
        )


class Gate:
    """Consults the silences for the machine; keeps the tracks that are owed a notification.

    Each owed track has a ``release`` timer on the engine's timer heap at the end of the
    silence that holds it, so releases run in the heap's fixed order (due time, rule, key)
    whatever the history; a change to the book (a silence expired early) re-checks them all
    at once.
    """

    def __init__(
        self,
        silences: SilenceBook,
        project: str,
        lock: threading.RLock,
        tracks: list[dict[str, AlertTrack]],
        rules: list[CompiledRule],
        values: dict[str, Any],
        timers: TimerHeap,
        stats: EngineStats,
        on_suppressed: Callable[[Suppressed], None] | None = None,
    ) -> None:
        self.silences = silences
        self.project = project
        self._lock = lock
        self._tracks = tracks  # by rule index
        self._rules = rules
        self._values = values
        self._timers = timers
        self._stats = stats
        self._on_suppressed = on_suppressed
        self.owed: set[tuple[int, str]] = set()  # (rule index, key) of tracks that may be owed
        self.machine: AlertMachine | None = None
        self._disposed = False
        self._unsubscribe = silences.subscribe(self._silences_changed)

    def labels(self, rule: CompiledRule, key: str) -> dict[str, str]:
        return {
            "project": self.project,
            "rule": rule.name,
            "key": key,
            "severity": rule.definition.severity,
        }

    def silence_of(self, rule: CompiledRule, key: str, at: datetime) -> Silence | None:
        """The silence that holds back ``rule``'s notifications for ``key`` at ``at``."""
        if not len(self.silences):
            return None
        return self.silences.silencing(self.labels(rule, key), at)

    def check(
        self, rule: CompiledRule, key: str, track: AlertTrack, state: AlertState, at: datetime
    ) -> bool:
        """Whether this notification is held back: if so it is counted and reported, and the
        track gets a ``release`` timer at the silence's end (the machine marks it owed)."""
        silence = self.silence_of(rule, key, at)
        if silence is None:
            return False
        self._stats.held["silenced"] += 1
        self.owed.add((rule.index, key))
        self._timers.schedule(rule.index, key, track, "release", silence.ends_at)
        if self._on_suppressed is not None:
            entry = self._values.get(key)
            value = entry.value if entry is not None else None
            self._on_suppressed(
                Suppressed(at, "silenced", state, rule.name, key, value, silence.id)
            )
        return True

    def on_release(self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime) -> None:
        """A ``release`` timer fell due: send what is owed, unless another silence holds it."""
        if not track.owed:
            self.owed.discard((rule.index, key))
            return
        silence = self.silence_of(rule, key, now)
        if silence is not None:
            self._timers.schedule(rule.index, key, track, "release", silence.ends_at)
            return
        self.owed.discard((rule.index, key))
        assert self.machine is not None
        self.machine.release(rule, key, track, now)

    def start(self, now: datetime) -> None:
        """After a restore: every owed track gets its timer, or is released at once."""
        for index, tracks in enumerate(self._tracks):
            self.owed.update((index, key) for key, track in tracks.items() if track.owed)
        self.recheck(now)

    def recheck(self, now: datetime) -> None:
        """Re-check every owed track against the silences as they are now (in rule, key
        order): release those nothing holds, re-time the others."""
        for index, key in sorted(self.owed):
            track = self._tracks[index].get(key)
            if track is None:
                self.owed.discard((index, key))
                continue
            rule = self._rules[index]
            try:
                self.on_release(rule, key, track, now)
            except Exception:
                self._stats.errors += 1
                log.exception("rule %r failed on key %r", rule.name, key)

    def dispose(self) -> None:
        self._disposed = True
        self._unsubscribe()

    def _silences_changed(self) -> None:
        with self._lock:
            if not self._disposed:
                self.recheck(self._timers.scheduler.now)
