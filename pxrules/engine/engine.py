"""The engine: events in, alerts out, for one :class:`~pxrules.engine.ruleset.RuleSet`.

It keeps the latest value of every key, routes each event to the rules that watch its key
(at once, or through a ``debounce`` hold or a ``stale`` clock) and hands each evaluation to the
:class:`~pxrules.engine.machine.AlertMachine`. Time comes only from the scheduler
(``scheduler.now`` and its timers), so the same code runs on ``AsyncIOScheduler`` live and on
``HistoricalScheduler`` / ``TestScheduler`` in replay and tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from reactivex import abc as rx_abc

from ..alerts import Alert
from ..events import MAX_KEYS, Event
from ..ratelimit import RateLimitedLog
from ..rules.conditions import Reading
from . import state as codec
from .compiled import CompiledRule, RuleIndex
from .gate import Gate, Suppressed
from .machine import AlertMachine
from .render import AlertRenderer
from .silences import SilenceBook
from .timers import TimerHeap
from .tracks import AlertTrack, EngineStats, KeyValue

log = logging.getLogger("pxrules.rules")
_NEVER = datetime.min.replace(tzinfo=UTC)


class Engine:
    """Runs a rule set over events; ``emit`` receives each :class:`Alert`.

    ``state`` is a :meth:`snapshot` to resume from; ``id_salt`` makes alert ids unique to one
    state file; ``track_changes`` keeps what :meth:`changes` hands to incremental checkpoints;
    ``on_late(seconds)`` is called when timers wake up that late (the clock jumped): they are
    held until :meth:`release_timers`, so the caller can first re-read the source.

    ``silences`` (a :class:`~pxrules.engine.silences.SilenceBook`) hold back the notifications
    of alerts they match, labelled with ``project``; ``on_suppressed`` hears of each one held.
    """

    def __init__(
        self,
        ruleset: RuleIndex,
        scheduler: rx_abc.SchedulerBase,
        emit: Callable[[Alert], None],
        *,
        state: Mapping[str, Any] | None = None,
        id_salt: str = "",
        track_changes: bool = False,
        max_keys: int = MAX_KEYS,
        on_late: Callable[[float], None] | None = None,
        silences: SilenceBook | None = None,
        project: str | None = None,
        on_suppressed: Callable[[Suppressed], None] | None = None,
    ) -> None:
        self.ruleset = ruleset
        if project is None:  # the rules file's own (``project:``, or the file's name)
            project = ruleset.config.project
        self.project = project
        self._plans = ruleset.plans  # read directly on the hot path
        self.id_salt = id_salt
        self.scheduler = scheduler
        self._lock = threading.RLock()
        self.values: dict[str, KeyValue] = {}
        self.max_keys = max_keys
        self._cap_warning = RateLimitedLog(log, logging.WARNING, interval=300.0)
        self.tracks: dict[str, dict[str, AlertTrack]] = {rule.name: {} for rule in ruleset.rules}
        self._by_index = [self.tracks[rule.name] for rule in ruleset.rules]  # same dicts
        self._changes = codec.ChangeSet(track_changes)
        self._track_changes = track_changes  # a plain flag: read on every event
        self._dirty_keys = self._changes.keys
        self._rule_names = [rule.name for rule in ruleset.rules]  # by index, for changes()
        self._scratch = Reading(None, None)  # reused: predicates run synchronously
        self.stats = EngineStats()
        self._disposed = False
        self.timers = TimerHeap(scheduler, self._lock, self._by_index, self._on_timer, on_late)
        self.machine = AlertMachine(
            self._by_index,
            self.values,
            self.timers,
            AlertRenderer(self.values, id_salt, self.stats, project),
            self._changes,
            self.stats,
            emit,
            on_suppressed,
        )
        self._evaluate = self.machine.evaluate
        self.gate: Gate | None = None
        config = ruleset.config
        windows_used = any(r.definition.mute_during or r.definition.only_during
                           for r in ruleset.rules)  # fmt: skip
        if silences is not None or config.inhibit or windows_used:
            self.gate = self.machine.gate = Gate(
                silences if silences is not None else SilenceBook(), project, self._lock,
                self._by_index, list(ruleset.rules), self.values, self.timers, self.stats,
                on_suppressed, inhibit=config.inhibit, windows=config.time_windows,
            )  # fmt: skip
            self.gate.machine = self.machine
        with self._lock:
            now = scheduler.now
            if state:
                self._restore(state, now)
            self._start_stale_clocks(now)
            if self.gate is not None:
                self.gate.start(now)

    # -- input ----------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        # The hot path: every event of the stream comes through here (see bench/).
        key = event.key
        with self._lock:
            if self._disposed:
                return
            now = self.scheduler.now
            self.stats.events += 1
            if self._track_changes:
                self._dirty_keys.add(key)
            entry = self.values.get(key)
            if entry is None:
                entry = self.values[key] = KeyValue(None, None)
                if len(self.values) > self.max_keys:
                    self._evict(key)
            elif entry.value is not None:
                entry.previous, entry.previous_number = entry.value, entry.number
            if event.kind == "set":
                entry.value, entry.number, entry.removed = event.value, event.number, False
                if event.icon is not None:
                    entry.icon = event.icon
                entry.last_set = now
            else:
                entry.value, entry.number, entry.removed = None, None, True
            rules, plain = self._plans.get(key) or self.ruleset.plan(key)
            self.stats.evaluations += plain
            by_index = self._by_index
            for rule in rules:
                try:  # one rule's failure must not stop the others or kill the stream
                    if rule.plain:
                        self._evaluate(rule, key, by_index[rule.index].get(key), now, entry)
                    else:
                        self._on_key_event(rule, key, now)
                except Exception:
                    self.stats.errors += 1
                    log.exception("rule %r failed on key %r", rule.name, key)
            if entry.removed and not any(r.stale or r.definition.debounce for r in rules):
                self._forget(key)  # a stale clock or a debounce hold still reads the entry

    def _forget(self, key: str) -> None:
        """Drop what is kept of a removed or evicted key (its alerts' tracks stay)."""
        del self.values[key]
        self._plans.pop(key, None)
        if self._track_changes:
            self._dirty_keys.add(key)  # the checkpoint deletes its row

    def _evict(self, keep: str) -> None:
        """Over :attr:`max_keys`: forget the least recently written keys, a sixteenth of the
        cap at a time (sorting is amortised over the batch). Their alerts keep their state; a
        ``changed`` rule has no previous value for them; ``values`` no longer lists them."""
        excess = len(self.values) - self.max_keys + max(1, self.max_keys // 16)
        oldest = sorted(
            (k for k in self.values if k != keep),
            key=lambda k: self.values[k].last_set or _NEVER,
        )[:excess]
        for k in oldest:
            self._forget(k)
        self.stats.evicted += len(oldest)
        self._cap_warning.log(
            "more than %d keys: forgot the %d least recently written (see docs/reliability.md)",
            self.max_keys,
            len(oldest),
        )

    def release_timers(self) -> None:
        """Let the timers held after a clock jump fire (see ``on_late``)."""
        self.timers.release()

    def dispose(self) -> None:
        with self._lock:
            self._disposed = True
            self.timers.dispose()
            if self.gate is not None:
                self.gate.dispose()
            for tracks in self.tracks.values():
                for track in tracks.values():
                    track.timers.clear()

    def _on_key_event(self, rule: CompiledRule, key: str, now: datetime) -> None:
        debounce = rule.definition.debounce
        track = self._by_index[rule.index].get(key)
        if track is None and (rule.stale or debounce):
            track = self.machine.track(rule, key)
        if track is not None:
            if self._track_changes:
                self._changes.tracks.add((rule.index, key))
            if track.stale_origin is None:
                track.stale_origin = now
        if debounce:
            assert track is not None
            track.held_due = now + timedelta(seconds=debounce)
            self.timers.ensure(rule.index, key, track, "debounce", track.held_due)
        else:
            self.stats.evaluations += 1
            self._evaluate(rule, key, track, now, self._reading(key, track, now))
        if rule.stale:  # any sighting starts or moves the clock; a pending timer re-checks itself
            assert track is not None
            self._schedule_stale(rule, key, track, now)

    def _reading(self, key: str, track: AlertTrack | None, now: datetime) -> Reading:
        r = self._scratch
        entry = self.values.get(key)
        origin = track.stale_origin if track is not None else None
        if entry is None:
            r.value = r.number = r.previous = r.previous_number = None
            r.removed, r.last_set = False, origin
        else:
            r.value, r.number, r.removed = entry.value, entry.number, entry.removed
            r.previous, r.previous_number = entry.previous, entry.previous_number
            r.last_set = entry.last_set or origin
        r.now = now
        return r

    # -- timers: debounce and stale here, the state machine's own in the machine ----------

    def _on_timer(self, index: int, key: str, track: AlertTrack, name: str, due: datetime) -> None:
        rule = self.ruleset.rules[index]
        if self._track_changes:
            self._changes.tracks.add((index, key))
        try:  # one rule's failure must not stop the others or kill the stream
            if name == "debounce":
                if track.held_due is None:
                    return
                if track.held_due > due:  # a newer event moved the deadline: wait for it
                    self.timers.schedule(index, key, track, name, track.held_due)
                    return
                track.held_due = None
                self.stats.evaluations += 1
                self._evaluate(rule, key, track, due, self._reading(key, track, due))
            elif name == "stale":
                earlier = due - timedelta(microseconds=1)
                next_due = self._next_stale_deadline(rule, key, track, earlier)
                if next_due is not None and next_due > due:
                    self.timers.schedule(index, key, track, name, next_due)  # set meanwhile
                    return
                self.stats.evaluations += 1
                self._evaluate(rule, key, track, due, self._reading(key, track, due))
                self._schedule_stale(rule, key, track, due)
            else:
                self.machine.on_timer(rule, key, track, name, due)
        except Exception:
            self.stats.errors += 1
            log.exception("rule %r failed on key %r", rule.name, key)

    def _next_stale_deadline(
        self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime
    ) -> datetime | None:
        entry = self.values.get(key)
        base = entry.last_set if entry is not None and entry.last_set else track.stale_origin
        if base is None:
            return None
        for seconds in rule.stale:
            deadline = base + timedelta(seconds=seconds)
            if deadline > now:
                return deadline
        return None

    def _schedule_stale(
        self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime
    ) -> None:
        deadline = self._next_stale_deadline(rule, key, track, now)
        if deadline is not None:
            self.timers.ensure(rule.index, key, track, "stale", deadline)

    def _start_stale_clocks(self, now: datetime) -> None:
        """``key:`` rules with ``stale`` start their clock now, even for keys never seen."""
        for rule in self.ruleset.rules:
            if rule.stale and rule.definition.key is not None:
                track = self.machine.track(rule, rule.definition.key)
                if track.stale_origin is None:
                    track.stale_origin = now
            if rule.stale:
                for key, track in self.tracks[rule.name].items():
                    self._schedule_stale(rule, key, track, now)

    # -- state ----------------------------------------------------------------------------

    def watches(self, key: str) -> bool:
        """Whether any rule watches ``key`` (only those keys' values are worth saving: the
        snapshot after a restart brings back the others)."""
        return bool((self._plans.get(key) or self.ruleset.plan(key))[0])

    def snapshot(self, *, durable: bool = False) -> dict[str, Any]:
        """The engine's state as plain JSON-able data (:mod:`pxrules.engine.state`); with
        ``durable``, only the values of keys a rule watches (what the state file keeps)."""
        with self._lock:
            values = {
                key: codec.encode_value(e)
                for key, e in self.values.items()
                if not durable or self.watches(key)
            }
            tracks = {
                name: {key: codec.encode_track(t) for key, t in by_key.items()}
                for name, by_key in self.tracks.items()
                if by_key
            }
            return codec.document(values, tracks, at=self.scheduler.now)

    def changes(self, limit: int | None = None) -> dict[str, Any]:
        """Like ``snapshot(durable=True)``, but only the values and tracks touched since the
        last call; a value that is gone (removed, forgotten, or of a key no rule watches) is
        ``None``: its row is to be deleted.

        With ``limit``, at most that many values and tracks are taken (values first); the rest
        stay for the next call, so a large checkpoint can be written piece by piece.
        """
        with self._lock:
            return self._changes.take(
                limit, self.values, self._by_index, self._rule_names, self.watches
            )

    @property
    def pending_changes(self) -> int:
        """How many values and tracks :meth:`changes` has yet to hand out."""
        return len(self._changes)

    def track_state(self, rule: str, key: str) -> dict[str, Any] | None:
        """One rule+key's state as in :meth:`snapshot` (what the daemon saves with each alert)."""
        with self._lock:
            track = self.tracks.get(rule, {}).get(key)
            return codec.encode_track(track) if track is not None else None

    def _restore(self, state: Mapping[str, Any], now: datetime) -> None:
        """Resume from :meth:`snapshot`. Rules are matched by name; unknown ones are dropped."""
        read = codec.read_state(state)
        if read is None:
            return
        values, tracks = read
        self.values.update(values)
        by_name = {rule.name: rule for rule in self.ruleset.rules}
        for rule_name, key, saved in tracks:
            rule = by_name.get(rule_name)
            if rule is None or not any(r is rule for r in self.ruleset.rules_for(key)):
                continue  # the rule is gone, or no longer watches this key
            self._by_index[rule.index][key] = saved
            if self._track_changes:
                self._changes.tracks.add((rule.index, key))
            self.machine.resume(rule, key, saved, now)
