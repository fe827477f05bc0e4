"""The alert state machine of one rule and key: one evaluation step, and the timers it sets.

``inactive → pending → firing → inactive``, as Prometheus' ``Eval``: :meth:`AlertMachine.evaluate`
takes what the conditions say now and moves the track; ``for``, ``keep_firing_for`` and
``repeat`` timers come back through :meth:`AlertMachine.on_timer`. Time is always passed in
(``now``, ``due``), never read from a clock here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..alerts import Alert, AlertState
from ..rules.conditions import Reading
from ..rules.durations import format_duration
from ..rules.model import RuleDef
from .compiled import CompiledRule
from .gate import Gate, Suppressed
from .render import AlertRenderer
from .state import ChangeSet
from .timers import TimerHeap
from .tracks import FIRING, INACTIVE, PENDING, AlertTrack, EngineStats, KeyValue

log = logging.getLogger("pxrules.rules")


class AlertMachine:
    """Steps the tracks of every rule and key; ``emit`` receives each notification."""

    def __init__(
        self,
        tracks: list[dict[str, AlertTrack]],
        values: dict[str, KeyValue],
        timers: TimerHeap,
        renderer: AlertRenderer,
        changes: ChangeSet,
        stats: EngineStats,
        emit: Callable[[Alert], None],
        on_suppressed: Callable[[Suppressed], None] | None = None,
    ) -> None:
        self._tracks = tracks  # by rule index
        self._values = values
        self._timers = timers
        self._renderer = renderer
        self._stats = stats
        self._emit = emit
        self.gate: Gate | None = None  # set when silences are consulted
        #: Hears of each notification flapping holds back (replay --show-suppressed).
        self.on_suppressed = on_suppressed
        # The change set's own flag and set, read without a hop on every evaluation.
        self._track_changes = changes.enabled
        self._dirty_tracks = changes.tracks

    def track(self, rule: CompiledRule, key: str) -> AlertTrack:
        """The track of ``rule`` for ``key``, created if there is none (and marked changed)."""
        tracks = self._tracks[rule.index]
        if self._track_changes:
            self._dirty_tracks.add((rule.index, key))
        track = tracks.get(key)
        if track is None:
            track = tracks[key] = AlertTrack()
        return track

    def evaluate(
        self,
        rule: CompiledRule,
        key: str,
        track: AlertTrack | None,
        now: datetime,
        reading: Reading,
    ) -> None:
        """Step the rule's state machine for ``key``; ``reading`` is what the conditions see
        (the key's own entry for rules without clocks). The caller counts the evaluation."""
        holds = rule.when(reading)
        if holds is True and rule.where and not self._where_holds(rule):
            holds = False
        if track is None:  # nothing remembered: only a holding condition needs a track
            if holds is not True:
                self._stats.unknown += holds is None
                return
            track = self.track(rule, key)
        elif self._track_changes:
            self._dirty_tracks.add((rule.index, key))
        d = rule.definition
        if rule.event_rule:
            if holds is None:
                self._stats.unknown += 1
            elif holds:
                track.since = now
                if not _cooldown_allows(d, track, now):
                    self._stats.suppressed += 1
                elif self.gate is None or not self.gate.check(rule, key, track, "firing", now):
                    track.last_fire_notice = now
                    self._notify(rule, key, track, "firing", now)
            return
        phase = track.phase
        if phase is FIRING:
            clear = rule.clear
            if clear is not None:
                resolve_met = clear(reading)
            else:
                resolve_met = None if holds is None else not holds
            if resolve_met is None:
                self._stats.unknown += 1
            elif resolve_met:
                keep = d.keep_firing_for
                if not keep:
                    self._resolve(rule, key, track, now)
                elif track.clearing_since is None:
                    track.clearing_since = now
                    self._timers.schedule(
                        rule.index, key, track, "keep", now + timedelta(seconds=keep)
                    )
            elif holds and track.clearing_since is not None:  # re-triggered: keep firing
                track.clearing_since = None
                self._timers.cancel(track, "keep")
        elif holds is None:
            self._stats.unknown += 1
        elif phase is INACTIVE:
            if holds:
                track.since = now
                if d.for_:
                    track.phase = PENDING
                    self._timers.schedule(
                        rule.index, key, track, "for", now + timedelta(seconds=d.for_)
                    )
                else:
                    self._fire(rule, key, track, now)
        elif not holds:  # pending, and the condition broke: start over
            track.phase = INACTIVE
            track.since = None
            self._timers.cancel(track, "for")

    def on_timer(
        self, rule: CompiledRule, key: str, track: AlertTrack, name: str, due: datetime
    ) -> None:
        """A ``for``, ``keep`` or ``repeat`` timer of this track fell due."""
        d = rule.definition
        if name == "for":
            if track.phase is PENDING:
                self._fire(rule, key, track, due)
        elif name == "keep":
            if track.clearing_since is not None:  # else it re-triggered (or resolved) since
                self._resolve(rule, key, track, due)
        elif name == "repeat":
            if track.phase is FIRING and track.notified and d.repeat and not track.flapping:
                # (quiet while flapping: settling announces it again)
                track.last_notice = due
                self._timers.schedule(
                    rule.index, key, track, "repeat", due + timedelta(seconds=d.repeat)
                )
                if self.gate is None or not self.gate.check(rule, key, track, "firing", due):
                    self._notify(rule, key, track, "firing", due)
        elif name == "release":
            if self.gate is not None:
                self.gate.on_release(rule, key, track, due)
        elif name == "flap":
            self._settle(rule, key, track, due)

    def resume(self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime) -> None:
        """Re-arm the timers of a track restored from a saved state.

        A ``for`` timer resumes from its recorded start if it is still due in the future; one
        that fell due while we were not running restarts its wait from ``now`` (the values it
        was based on are stale; the snapshot after reconnect brings fresh ones).
        """
        d, timers, index = rule.definition, self._timers, rule.index
        if track.phase is PENDING:
            if not d.for_ or rule.event_rule:
                track.phase, track.since = INACTIVE, None
            else:
                since = track.since or now
                due = since + timedelta(seconds=d.for_)
                if due < now:
                    track.since, due = now, now + timedelta(seconds=d.for_)
                timers.schedule(index, key, track, "for", due)
        if track.phase is FIRING:
            if track.clearing_since is not None and d.keep_firing_for:
                keep_due = track.clearing_since + timedelta(seconds=d.keep_firing_for)
                timers.schedule(index, key, track, "keep", max(keep_due, now))
            if track.notified and d.repeat and track.last_notice is not None:
                repeat_due = track.last_notice + timedelta(seconds=d.repeat)
                timers.schedule(index, key, track, "repeat", max(repeat_due, now))
        if track.flapping and d.flapping is not None and track.changes:
            due = track.changes[-1] + timedelta(seconds=d.flapping.window)
            timers.schedule(index, key, track, "flap", max(due, now))
        elif track.flapping:
            track.flapping = False
        if track.held_due is not None and d.debounce:
            timers.schedule(index, key, track, "debounce", max(track.held_due, now))
        else:
            track.held_due = None

    def _where_holds(self, rule: CompiledRule) -> bool:
        for other, predicate in rule.where:
            entry = self._values.get(other)
            if entry is None or entry.value is None:
                return False  # a key with no value does not satisfy where
            # (``stale``, the one test of ``last_set``, is not allowed in ``where``)
            if predicate(Reading(entry.value, entry.number)) is not True:
                return False
        return True

    def _fire(self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime) -> None:
        d = rule.definition
        track.phase = FIRING  # from inactive, or pending whose ``for`` timer is this call
        track.clearing_since = None
        if d.flapping is not None and self._flaps(rule, key, track, at):
            return
        if d.cooldown and not _cooldown_allows(d, track, at):
            track.notified = track.owed = False
            self._stats.suppressed += 1
            return
        if self.gate is not None and self.gate.check(rule, key, track, "firing", at):
            # Owed unless receivers still believe it fires (its resolve was held back): then
            # it is as if it had never stopped, and its repeats go on.
            track.owed = not track.notified
            if track.notified and d.repeat:
                last = track.last_notice or at
                due = max(last + timedelta(seconds=d.repeat), at)
                self._timers.schedule(rule.index, key, track, "repeat", due)
            return
        if track.owed and track.notified:  # the last episode's resolve was held: it goes first
            self._notify(rule, key, track, "resolved", at)  # (announcing clears ``owed``)
        self._announce_firing(rule, key, track, at)

    def _announce_firing(
        self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime
    ) -> None:
        d = rule.definition
        track.notified, track.owed = True, False
        track.last_fire_notice = track.last_notice = at
        if d.repeat:
            self._timers.schedule(
                rule.index, key, track, "repeat", at + timedelta(seconds=d.repeat)
            )
        self._notify(rule, key, track, "firing", at)

    def _resolve(self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime) -> None:
        # A firing track has no ``for`` timer, and resolving is either its ``keep`` timer
        # running (gone from the heap) or the condition clearing with no keep_firing_for.
        if track.timers:
            self._timers.cancel(track, "repeat")
        # The state is final before anything is emitted: a subscriber persisting it sees it so.
        announce, since = rule.definition.resolve and track.notified, track.since
        track.phase = INACTIVE
        track.clearing_since = None
        gate = self.gate
        flapping = rule.definition.flapping
        if flapping is not None and self._flaps(rule, key, track, at):
            track.since = None
        elif announce and gate is not None and gate.check(rule, key, track, "resolved", at):
            track.owed = True  # receivers still believe it fires; ``since`` is kept for them
        else:
            track.since = None
            track.notified = track.owed = False  # a firing never sent has no resolve to send
            if announce:
                self._notify(rule, key, track, "resolved", at, since=since)
        if gate is not None:
            gate.source_resolved(rule, at)  # it may have inhibited others

    def _flaps(self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime) -> bool:
        """Count a state change of a rule with ``flapping``; whether the alert is flapping
        (now or still): then this change notifies nobody. Past ``max_changes`` within the
        window, one ``flapping`` notification goes out; a ``flap`` timer then waits for the
        window to pass without a change."""
        spec = rule.definition.flapping
        assert spec is not None
        horizon = at - timedelta(seconds=spec.window)
        changes = [t for t in track.changes or () if t > horizon]
        changes.append(at)
        track.changes = changes[-(spec.max_changes + 1) :]
        if track.flapping:
            self._stats.held["flapping"] += 1
            if self.on_suppressed is not None:
                entry = self._values.get(key)
                state: AlertState = "firing" if track.phase is FIRING else "resolved"
                self.on_suppressed(Suppressed(
                    at, "flapping", state, rule.name, key, entry.value if entry else None,
                    f"over {spec.max_changes} changes within {format_duration(spec.window)}",
                ))  # fmt: skip
        elif len(changes) > spec.max_changes:
            track.flapping = True
            if self.gate is None or not self.gate.check(rule, key, track, "flapping", at):
                self._notify(rule, key, track, "flapping", at, since=changes[0])
        else:
            return False
        self._timers.schedule(rule.index, key, track, "flap", at + timedelta(seconds=spec.window))
        return True

    def _settle(self, rule: CompiledRule, key: str, track: AlertTrack, due: datetime) -> None:
        """A flapping alert's ``flap`` timer: stable for the window since its last change, it
        stops flapping, and one notification says the state it settled in.

        The timer is due exactly a window after the last change: each change re-arms it
        (:meth:`_flaps`), and a restart arms it at the same time or later (:meth:`resume`).
        """
        if not track.flapping:
            return
        assert track.changes  # a flapping track remembers its changes
        last = track.changes[-1]
        track.flapping, track.changes = False, None
        gate = self.gate
        if track.phase is FIRING:
            track.notified = False
            if gate is not None and gate.check(rule, key, track, "firing", due):
                track.owed = True
            else:
                self._announce_firing(rule, key, track, due)
        else:
            track.notified = True  # receivers were told "flapping": they need the outcome
            if gate is not None and gate.check(rule, key, track, "resolved", due):
                track.owed = True
                if track.phase is INACTIVE:
                    track.since = last  # the resolve sent when the hold ends: since then
            else:
                track.notified = False
                self._notify(rule, key, track, "resolved", due, since=last)

    def release(self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime) -> None:
        """What a silence held back may go now: the firing of an alert still firing that
        receivers never saw, or the resolve of one they were told fires and that has since
        resolved. Whatever is no longer true is dropped."""
        track.owed = False
        if self._track_changes:
            self._dirty_tracks.add((rule.index, key))
        if rule.event_rule:
            return
        if track.phase is FIRING:
            if not track.notified:
                self._announce_firing(rule, key, track, now)
        elif track.notified:  # inactive, or pending again: the resolve that was held goes
            since = track.since if track.phase is INACTIVE else None
            track.notified = False
            if track.phase is INACTIVE:
                track.since = None
            self._notify(rule, key, track, "resolved", now, since=since or now)

    def _notify(
        self,
        rule: CompiledRule,
        key: str,
        track: AlertTrack,
        state: AlertState,
        at: datetime,
        *,
        since: datetime | None = None,
    ) -> None:
        alert = self._renderer.alert(rule, key, track, state, at, since or track.since or at)
        self._stats.alerts[(rule.name, state)] += 1
        try:
            self._emit(alert)
        except Exception:
            self._stats.errors += 1
            log.exception("a subscriber of the alert stream raised on rule %r", rule.name)


def _cooldown_allows(d: RuleDef, track: AlertTrack, now: datetime) -> bool:
    if not d.cooldown or track.last_fire_notice is None:
        return True
    return (now - track.last_fire_notice).total_seconds() >= d.cooldown
