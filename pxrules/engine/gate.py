"""The notification gate: what the alert machine asks before it notifies.

A notification is held back when its alert is **silenced** (a silence matches it), **inhibited**
(an ``inhibit`` entry's source alert fires with the same ``equal`` labels) or **muted** (the
rule's ``mute_during`` window is active, or none of its ``only_during`` windows is). The alert
keeps its state and timers; the machine marks its track ``owed`` when receivers were not told
something they should be told later — a firing they never saw, or the resolve of a firing they
did see. The gate keeps those tracks and, when what held them ends (a silence's end or early
expiry, the inhibiting alert resolving, the window's end), hands each back to the machine
(:meth:`~pxrules.engine.machine.AlertMachine.release`), which sends what is still true then.

Time comes from the engine's timers, so replay and tests see the same releases at the same
virtual times as the daemon does live.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..alerts import AlertState
from ..rules.model import InhibitRule
from ..rules.windows import TimeWindow
from .compiled import CompiledRule
from .silences import Silence, SilenceBook
from .timers import TimerHeap
from .tracks import FIRING, AlertTrack, EngineStats

if TYPE_CHECKING:
    from .machine import AlertMachine

log = logging.getLogger("pxrules.rules")

#: Why a notification was held back.
REASONS = ("silenced", "inhibited", "muted")


@dataclass(frozen=True, slots=True)
class Hold:
    """What holds a notification back: the reason, what (a silence id, the inhibiting alert
    ``rule key``, a window name), and until when if that is known (inhibition ends when its
    source resolves, not at a time)."""

    reason: str
    by: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A notification that was not sent, and why (``replay --show-suppressed`` prints these)."""

    at: datetime
    reason: str  # one of REASONS
    state: AlertState
    rule: str
    key: str
    value: str | None
    by: str  # the silence's id, the inhibiting alert ("rule key"), the window's name

    def text_line(self) -> str:
        from ..events import format_time

        what = {"silenced": "silence", "inhibited": "inhibited by", "muted": "window",
                "flapping": "flapping:"}  # fmt: skip
        return (
            f"{format_time(self.at)} {self.reason} {self.state} {self.rule} "
            f"{self.key}={self.value} ({what.get(self.reason, self.reason)} {self.by})"
        )


class Gate:
    """Holds notifications back for the machine; keeps the tracks that are owed one.

    Each owed track held for a known span has a ``release`` timer on the engine's timer heap at
    its end, so releases run in the heap's fixed order (due time, rule, key) whatever the
    history; a change to the silences, or an inhibiting alert resolving, re-checks them all.
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
        *,
        inhibit: tuple[InhibitRule, ...] = (),
        windows: Mapping[str, TimeWindow] | None = None,
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
        self._inhibit = inhibit
        self._windows = dict(windows or {})
        # Per inhibit entry, the rules whose alerts may be its source (all but the key match).
        self._sources = [
            [r for r in rules if not r.event_rule and _matches_but_key(entry, self._static(r))]
            for entry in inhibit
        ]
        self._source_rules = {r.index for candidates in self._sources for r in candidates}
        self.owed: set[tuple[int, str]] = set()  # (rule index, key) of tracks that may be owed
        self.machine: AlertMachine | None = None
        self._disposed = False
        self._unsubscribe = silences.subscribe(self._silences_changed)

    def _static(self, rule: CompiledRule) -> dict[str, str]:
        return {"project": self.project, "rule": rule.name, "severity": rule.definition.severity}

    def labels(self, rule: CompiledRule, key: str) -> dict[str, str]:
        return {
            "project": self.project,
            "rule": rule.name,
            "key": key,
            "severity": rule.definition.severity,
        }

    # -- why a notification is held ---------------------------------------------------------

    def hold(self, rule: CompiledRule, key: str, at: datetime) -> Hold | None:
        """What holds ``rule``'s notifications for ``key`` back at ``at``, if anything
        (a silence first, then inhibition, then the rule's time windows)."""
        silence = self.silence_of(rule, key, at)
        if silence is not None:
            return Hold("silenced", silence.id, silence.ends_at)
        if self._inhibit:
            source = self.inhibitor(rule, key)
            if source is not None:
                return Hold("inhibited", source, None)
        d = rule.definition
        if d.mute_during or d.only_during:
            return self._muted(d.mute_during, d.only_during, at)
        return None

    def silence_of(self, rule: CompiledRule, key: str, at: datetime) -> Silence | None:
        """The silence that holds back ``rule``'s notifications for ``key`` at ``at``."""
        if not len(self.silences):
            return None
        return self.silences.silencing(self.labels(rule, key), at)

    def muted_by(self, rule: CompiledRule, at: datetime) -> str | None:
        """The time window that mutes ``rule`` at ``at`` (``outside W`` for only_during)."""
        d = rule.definition
        if not (d.mute_during or d.only_during):
            return None
        held = self._muted(d.mute_during, d.only_during, at)
        return held.by if held is not None else None

    def inhibitor(self, rule: CompiledRule, key: str) -> str | None:
        """``"rule key"`` of a firing alert that inhibits this one, if any."""
        labels: dict[str, str] | None = None
        for entry, candidates in zip(self._inhibit, self._sources, strict=True):
            if labels is None:
                labels = self.labels(rule, key)
            target = entry.target.match(labels)
            if target is None:
                continue
            target_labels = {**labels, **target}
            for source_rule in candidates:
                for source_key, track in self._tracks[source_rule.index].items():
                    if track.phase is not FIRING or (source_rule is rule and source_key == key):
                        continue
                    source_labels = self.labels(source_rule, source_key)
                    captured = entry.source.match(source_labels)
                    if captured is None:
                        continue
                    source_labels.update(captured)
                    if all(source_labels.get(n) == target_labels.get(n) for n in entry.equal):
                        return f"{source_rule.name} {source_key}"
        return None

    def _muted(self, mute: tuple[str, ...], only: tuple[str, ...], at: datetime) -> Hold | None:
        for name in mute:
            window = self._windows.get(name)
            if window is not None and window.active(at):
                return Hold("muted", name, window.next_change(at))
        if only:
            windows = [w for name in only if (w := self._windows.get(name)) is not None]
            if windows and not any(w.active(at) for w in windows):
                return Hold(
                    "muted", "outside " + ", ".join(only), min(w.next_change(at) for w in windows)
                )
        return None

    # -- holding and releasing ----------------------------------------------------------------

    def check(
        self, rule: CompiledRule, key: str, track: AlertTrack, state: AlertState, at: datetime
    ) -> bool:
        """Whether this notification is held back: if so it is counted and reported, and the
        track gets a ``release`` timer when what holds it ends at a known time (the machine
        marks it owed)."""
        held = self.hold(rule, key, at)
        if held is None:
            return False
        self._stats.held[held.reason] += 1
        self.owed.add((rule.index, key))
        if held.until is not None:
            self._timers.schedule(rule.index, key, track, "release", held.until)
        if self._on_suppressed is not None:
            entry = self._values.get(key)
            value = entry.value if entry is not None else None
            self._on_suppressed(Suppressed(at, held.reason, state, rule.name, key, value, held.by))
        return True

    def on_release(self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime) -> None:
        """A ``release`` timer fell due (or a re-check): send what is owed, unless something
        still holds it."""
        if not track.owed:
            self.owed.discard((rule.index, key))
            return
        held = self.hold(rule, key, now)
        if held is not None:
            if held.until is not None:
                self._timers.schedule(rule.index, key, track, "release", held.until)
            return
        self.owed.discard((rule.index, key))
        assert self.machine is not None
        self.machine.release(rule, key, track, now)

    def source_resolved(self, rule: CompiledRule, now: datetime) -> None:
        """An alert of ``rule`` stopped firing: if it may inhibit others, re-check them."""
        if rule.index in self._source_rules and self.owed:
            self.recheck(now)

    def start(self, now: datetime) -> None:
        """After a restore: every owed track gets its timer, or is released at once."""
        for index, tracks in enumerate(self._tracks):
            self.owed.update((index, key) for key, track in tracks.items() if track.owed)
        self.recheck(now)

    def recheck(self, now: datetime) -> None:
        """Re-check every owed track as things are now (in rule, key order): release those
        nothing holds, re-time the others."""
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


def _matches_but_key(entry: InhibitRule, labels: dict[str, str]) -> bool:
    """Whether the source matcher's non-key globs match these labels."""
    return all(
        pattern.match(labels.get(label, "")) is not None
        for label, pattern in entry.source.patterns
        if label != "key"
    )
