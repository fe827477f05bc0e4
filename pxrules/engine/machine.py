"""The rule engine: ``Observable[Event]`` in, ``Observable[Alert]`` out (CONTRACT §3, §6).

>>> ruleset = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 30}}]")
>>> alerts = ruleset.apply(events, scheduler)                 # doctest: +SKIP

Per rule and per key an :class:`AlertTrack` walks ``inactive → pending → firing → inactive``
(Prometheus' state machine). Time comes only from the scheduler (``scheduler.now`` and its
timers), so the same code runs on ``AsyncIOScheduler`` live and on ``HistoricalScheduler`` /
``TestScheduler`` in replay and tests. Timers are lazy: a timer that fires early (its deadline
moved later meanwhile) reschedules itself instead of being cancelled on every event.
"""

from __future__ import annotations

import enum
import fnmatch
import heapq
import itertools
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import reactivex
from reactivex import abc as rx_abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import TimeoutScheduler

from ..alerts import Alert, AlertState, alert_id_base, fingerprint, new_alert
from ..events import Event, format_time, parse_number, parse_time
from ..rules.conditions import Predicate, Reading, compile_condition, stale_durations
from ..rules.load import Config, RuleDef, RulesError, load_config, load_text
from ..rules.templates import (
    DEFAULT_MESSAGE,
    DEFAULT_TITLE,
    TemplateError,
    default_message,
    default_title,
)

log = logging.getLogger("pxrules.rules")

_TIMER_RANK = {"debounce": 0, "stale": 1, "for": 2, "keep": 3, "repeat": 4}

STATE_VERSION = 1


class Phase(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


# Module-level names: an enum member lookup costs several times a global on the hot path.
_INACTIVE, _PENDING, _FIRING = Phase.INACTIVE, Phase.PENDING, Phase.FIRING


@dataclass(slots=True)
class KeyValue(Reading):
    """The latest known value of one key, shared by every rule.

    It is a :class:`Reading` (``previous`` is the value before the latest one), so rules whose
    conditions do not look at clocks read it directly; ``now`` stays unset here.
    """

    icon: str | None = None


@dataclass(slots=True)
class AlertTrack:
    """The state of one rule for one key; only kept once the rule has something to remember
    (a transition, a timer, a stale clock, a past alert), so idle keys cost no track."""

    phase: Phase = _INACTIVE
    since: datetime | None = None  # when the condition started holding (episode start)
    last_fire_notice: datetime | None = None  # cooldown counts from here
    notified: bool = False  # a firing notification went out in this episode
    last_notice: datetime | None = None  # repeat counts from here
    clearing_since: datetime | None = None  # keep_firing_for countdown
    seq: int = 0
    fingerprint: str = ""  # computed at the first alert
    id_base: str = ""  # the first half of its alerts' ids (alerts.alert_id), likewise
    held_due: datetime | None = None  # debounce: evaluate at this time
    stale_origin: datetime | None = None  # stale clock start when the key was never set
    timers: dict[str, int] = field(default_factory=dict)  # timer name → token of the live entry


@dataclass
class EngineStats:
    """Counters the daemon exports as metrics."""

    events: int = 0
    evaluations: int = 0
    unknown: int = 0
    suppressed: int = 0
    errors: int = 0
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, state)


@dataclass(frozen=True)
class CompiledRule:
    """A :class:`RuleDef` with its predicates compiled."""

    index: int  # position in the file: simultaneous timers fire in rule order
    name: str
    definition: RuleDef
    when: Predicate
    clear: Predicate | None
    where: tuple[tuple[str, Predicate], ...]
    stale: tuple[float, ...]
    event_rule: bool  # `when` uses changed/changed_by (cached: the tree walk is per evaluation)
    plain: bool  # no debounce and no stale clock: an event is evaluated at once, on the key itself
    renders: frozenset[str]  # the template variables its title and message read
    default_texts: bool  # the built-in title and message (rendered without Jinja)

    @classmethod
    def compile(cls, index: int, definition: RuleDef) -> CompiledRule:
        stale = list(stale_durations(definition.when))
        if definition.clear is not None:
            stale.extend(stale_durations(definition.clear))
        return cls(
            index=index,
            name=definition.name,
            definition=definition,
            when=compile_condition(definition.when),
            clear=compile_condition(definition.clear) if definition.clear else None,
            where=tuple((k, compile_condition(c)) for k, c in definition.where.items()),
            stale=tuple(sorted(set(stale))),
            event_rule=definition.is_event_rule,
            plain=not stale and not definition.debounce,
            renders=definition.title.names | definition.message.names,
            default_texts=definition.title.source == DEFAULT_TITLE
            and definition.message.source == DEFAULT_MESSAGE,
        )


class _ValuesView(Mapping[str, str]):
    """``values`` in templates: the latest value of every key, read-only and without copying."""

    def __init__(self, values: dict[str, KeyValue]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> str:
        entry = self._values[key]
        if entry.value is None:
            raise KeyError(key)
        return entry.value

    def __iter__(self) -> Iterator[str]:
        return (k for k, v in self._values.items() if v.value is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._values.values() if v.value is not None)


class RuleSet:
    """Compiled rules with a key index: exact keys in a dict, globs matched once per new key."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules = tuple(CompiledRule.compile(i, rule) for i, rule in enumerate(config.rules))
        self._exact: dict[str, list[CompiledRule]] = {}
        self._globs: list[tuple[Callable[[str], Any], CompiledRule]] = []
        for rule in self.rules:
            if rule.definition.key is not None:
                self._exact.setdefault(rule.definition.key, []).append(rule)
            for pattern in rule.definition.keys:
                matcher = re.compile(fnmatch.translate(pattern)).match
                self._globs.append((matcher, rule))
        # Per key seen: its rules, and how many of them are plain (evaluated on the event).
        # Keys with the same rules share one plan (many keys, few distinct rule sets).
        self._plans: dict[str, tuple[tuple[CompiledRule, ...], int]] = {}
        self._shared_plans: dict[tuple[int, ...], tuple[tuple[CompiledRule, ...], int]] = {}

    @classmethod
    def from_text(cls, text: str, env: Mapping[str, str] | None = None) -> RuleSet:
        result = load_text(text, env=env or {}, strict_env=True)
        if not result.ok or result.config is None:
            raise RulesError(result.problems)
        return cls(result.config)

    def rules_for(self, key: str) -> tuple[CompiledRule, ...]:
        """Every rule whose key or globs match ``key`` (memoised per key)."""
        return self.plan(key)[0]

    def plan(self, key: str) -> tuple[tuple[CompiledRule, ...], int]:
        """:meth:`rules_for` ``key``, and how many of those rules are plain (memoised)."""
        found = self._plans.get(key)
        if found is None:
            matched = list(self._exact.get(key, ()))
            for match, rule in self._globs:
                if match(key) and rule not in matched:
                    matched.append(rule)
            shared = tuple(rule.index for rule in matched)
            found = self._shared_plans.get(shared)
            if found is None:
                rules = tuple(matched)
                found = self._shared_plans[shared] = (rules, sum(r.plain for r in rules))
            self._plans[key] = found
        return found

    def apply(
        self,
        events: reactivex.Observable[Event],
        scheduler: rx_abc.SchedulerBase | None = None,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> reactivex.Observable[Alert]:
        """The alert stream for ``events``. Each subscription runs its own engine.

        Timers run on ``scheduler``, else the one given at subscribe time, else reactivex's
        ``TimeoutScheduler`` (threads; pass an ``AsyncIOScheduler`` under asyncio).
        ``state`` is a :meth:`Engine.snapshot` to resume from.
        """

        def subscribe(
            observer: rx_abc.ObserverBase[Alert], scheduler_: rx_abc.SchedulerBase | None = None
        ) -> rx_abc.DisposableBase:
            chosen = scheduler or scheduler_ or TimeoutScheduler.singleton()
            engine = Engine(self, chosen, observer.on_next, state=state)
            subscription = events.subscribe(
                engine.on_event, observer.on_error, observer.on_completed, scheduler=scheduler_
            )
            return CompositeDisposable(subscription, Disposable(engine.dispose))

        return reactivex.create(subscribe)


def load_rules(path: str, env: Mapping[str, str] | None = None) -> RuleSet:
    """Load a rules file into a :class:`RuleSet`; raise :class:`RulesError` if invalid."""
    return RuleSet(load_config(path, env=env))


def _stamp(moment: datetime | None) -> float | None:
    """Times in the state are epoch seconds: JSON-able and cheap (checkpoints write many)."""
    return moment.timestamp() if moment is not None else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return parse_time(value) if isinstance(value, str) else None


class Engine:
    """Runs a :class:`RuleSet` over events; ``emit`` receives each :class:`Alert`."""

    def __init__(
        self,
        ruleset: RuleSet,
        scheduler: rx_abc.SchedulerBase,
        emit: Callable[[Alert], None],
        *,
        state: Mapping[str, Any] | None = None,
        id_salt: str = "",
        track_changes: bool = False,
    ) -> None:
        self.ruleset = ruleset
        self._plans = ruleset._plans  # read directly on the hot path
        self.id_salt = id_salt
        self.scheduler = scheduler
        self._emit = emit
        self._lock = threading.RLock()
        self.values: dict[str, KeyValue] = {}
        self.tracks: dict[str, dict[str, AlertTrack]] = {rule.name: {} for rule in ruleset.rules}
        self._by_index = [self.tracks[rule.name] for rule in ruleset.rules]  # same dicts
        # What changed since the last changes() call, so checkpoints write only that.
        # Off unless asked for (every add checks the flag): the sets would grow unread in
        # replay and library use.
        self._track_changes = track_changes
        self._dirty_keys: set[str] = set()
        self._dirty_tracks: set[tuple[int, str]] = set()
        self._scratch = Reading(None, None)  # reused: predicates run synchronously
        self.stats = EngineStats()
        self._values_view = _ValuesView(self.values)
        self._disposed = False
        # One heap of timers, one scheduler wake-up for the earliest: cheap for many keys, and
        # simultaneous timers fire in a fixed order (due, rule, key, kind) whatever the history.
        self._heap: list[tuple[datetime, int, str, int, int, str]] = []
        self._tokens = itertools.count()
        self._wake: rx_abc.DisposableBase | None = None
        self._wake_due: datetime | None = None
        with self._lock:
            now = scheduler.now
            if state:
                self._restore(state, now)
            self._start_stale_clocks(now)

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

    def dispose(self) -> None:
        with self._lock:
            self._disposed = True
            if self._wake is not None:
                self._wake.dispose()
            self._wake = self._wake_due = None
            self._heap.clear()
            for tracks in self.tracks.values():
                for track in tracks.values():
                    track.timers.clear()

    def _guarded(self, rule: CompiledRule, key: str, fn: Callable[..., None], *args: Any) -> None:
        # One rule's failure must not stop the others or kill the stream.
        try:
            fn(*args)
        except Exception:
            self.stats.errors += 1
            log.exception("rule %r failed on key %r", rule.name, key)

    def _track(self, rule: CompiledRule, key: str) -> AlertTrack:
        tracks = self._by_index[rule.index]
        if self._track_changes:
            self._dirty_tracks.add((rule.index, key))
        track = tracks.get(key)
        if track is None:
            track = tracks[key] = AlertTrack()
        return track

    def _on_key_event(self, rule: CompiledRule, key: str, now: datetime) -> None:
        debounce = rule.definition.debounce
        track = self._by_index[rule.index].get(key)
        if track is None and (rule.stale or debounce):
            track = self._track(rule, key)
        if track is not None:
            if self._track_changes:
                self._dirty_tracks.add((rule.index, key))
            if track.stale_origin is None:
                track.stale_origin = now
        if debounce:
            assert track is not None
            track.held_due = now + timedelta(seconds=debounce)
            self._ensure_timer(rule, key, track, "debounce", track.held_due)
        else:
            self.stats.evaluations += 1
            self._evaluate(rule, key, track, now, self._reading(key, track, now))
        if rule.stale:  # any sighting starts or moves the clock; a pending timer re-checks itself
            assert track is not None
            self._schedule_stale(rule, key, track, now)

    # -- timers ---------------------------------------------------------------------------

    def _ensure_timer(
        self, rule: CompiledRule, key: str, track: AlertTrack, name: str, due: datetime
    ) -> None:
        """Schedule ``name`` at ``due`` unless one is pending (it re-checks its due on firing)."""
        if name in track.timers:
            return
        self._schedule(rule, key, track, name, due)

    def _schedule(
        self, rule: CompiledRule, key: str, track: AlertTrack, name: str, due: datetime
    ) -> None:
        """(Re)arm timer ``name`` of this track at ``due``; an older entry becomes stale."""
        token = next(self._tokens)
        track.timers[name] = token
        heapq.heappush(self._heap, (due, rule.index, key, _TIMER_RANK[name], token, name))
        if self._wake_due is None or due < self._wake_due:
            self._arm(due)

    def _arm(self, due: datetime) -> None:
        if self._wake is not None:
            self._wake.dispose()
        self._wake_due = due
        self._wake = self.scheduler.schedule_absolute(due, self._on_wake)

    def _on_wake(self, _scheduler: rx_abc.SchedulerBase, _state: Any = None) -> None:
        with self._lock:
            if self._disposed or self._wake_due is None:
                return
            # Everything due by the wake-up time counts as due (a live clock may read a hair early).
            horizon = max(self.scheduler.now, self._wake_due)
            self._wake = self._wake_due = None
            rules = self.ruleset.rules
            while self._heap and self._heap[0][0] <= horizon:
                due, index, key, _, token, name = heapq.heappop(self._heap)
                rule = rules[index]
                track = self.tracks[rule.name].get(key)
                if track is None or track.timers.get(name) != token:
                    continue  # cancelled or re-armed since
                del track.timers[name]
                if self._track_changes:
                    self._dirty_tracks.add((index, key))
                self._guarded(rule, key, self._on_timer, rule, key, track, name, due)
            if self._heap and not self._disposed:
                self._arm(self._heap[0][0])

    def _cancel(self, track: AlertTrack, name: str) -> None:
        track.timers.pop(name, None)  # its heap entry is skipped when it comes up

    def _on_timer(
        self, rule: CompiledRule, key: str, track: AlertTrack, name: str, due: datetime
    ) -> None:
        d = rule.definition
        if name == "debounce":
            if track.held_due is None:
                return
            if track.held_due > due:  # a newer event moved the deadline: wait for it
                self._schedule(rule, key, track, name, track.held_due)
                return
            track.held_due = None
            self.stats.evaluations += 1
            self._evaluate(rule, key, track, due, self._reading(key, track, due))
        elif name == "for":
            if track.phase is _PENDING:
                self._fire(rule, key, track, due)
        elif name == "keep":
            if track.phase is _FIRING and track.clearing_since is not None:
                self._resolve(rule, key, track, due)
        elif name == "repeat":
            if track.phase is _FIRING and track.notified and d.repeat:
                track.last_notice = due
                self._schedule(rule, key, track, "repeat", due + timedelta(seconds=d.repeat))
                self._notify(rule, key, track, "firing", due)
        elif name == "stale":
            next_due = self._next_stale_deadline(rule, key, track, due - timedelta(microseconds=1))
            if next_due is not None and next_due > due:
                self._schedule(rule, key, track, name, next_due)  # the key was set meanwhile
                return
            self.stats.evaluations += 1
            self._evaluate(rule, key, track, due, self._reading(key, track, due))
            self._schedule_stale(rule, key, track, due)

    def _stale_base(self, key: str, track: AlertTrack) -> datetime | None:
        entry = self.values.get(key)
        if entry is not None and entry.last_set is not None:
            return entry.last_set
        return track.stale_origin

    def _next_stale_deadline(
        self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime
    ) -> datetime | None:
        base = self._stale_base(key, track)
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
            self._ensure_timer(rule, key, track, "stale", deadline)

    def _start_stale_clocks(self, now: datetime) -> None:
        """``key:`` rules with ``stale`` start their clock now, even for keys never seen."""
        for rule in self.ruleset.rules:
            if rule.stale and rule.definition.key is not None:
                track = self._track(rule, rule.definition.key)
                if track.stale_origin is None:
                    track.stale_origin = now
            if rule.stale:
                for key, track in self.tracks[rule.name].items():
                    self._schedule_stale(rule, key, track, now)

    # -- evaluation -----------------------------------------------------------------------

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

    def _where_holds(self, rule: CompiledRule) -> bool:
        for other, predicate in rule.where:
            entry = self.values.get(other)
            if entry is None or entry.value is None:
                return False  # a key with no value does not satisfy where
            if predicate(Reading(entry.value, entry.number, last_set=entry.last_set)) is not True:
                return False
        return True

    def _evaluate(
        self,
        rule: CompiledRule,
        key: str,
        track: AlertTrack | None,
        now: datetime,
        reading: Reading,
    ) -> None:
        """Step the rule's state machine for ``key``; ``reading`` is what the conditions see
        (the key's own entry for rules without clocks, else :meth:`_reading`). The caller
        counts the evaluation."""
        holds = rule.when(reading)
        if holds is True and rule.where and not self._where_holds(rule):
            holds = False
        if track is None:  # nothing remembered: only a holding condition needs a track
            if holds is not True:
                self.stats.unknown += holds is None
                return
            track = self._track(rule, key)
        elif self._track_changes:
            self._dirty_tracks.add((rule.index, key))
        d = rule.definition
        if rule.event_rule:
            if holds is None:
                self.stats.unknown += 1
            elif holds:
                track.since = now
                if self._cooldown_allows(d, track, now):
                    track.last_fire_notice = now
                    self._notify(rule, key, track, "firing", now)
                else:
                    self.stats.suppressed += 1
            return
        phase = track.phase
        if phase is _FIRING:
            clear = rule.clear
            if clear is not None:
                resolve_met = clear(reading)
            else:
                resolve_met = None if holds is None else not holds
            if resolve_met is None:
                self.stats.unknown += 1
            elif resolve_met:
                keep = d.keep_firing_for
                if not keep:
                    self._resolve(rule, key, track, now)
                elif track.clearing_since is None:
                    track.clearing_since = now
                    self._schedule(rule, key, track, "keep", now + timedelta(seconds=keep))
            elif holds and track.clearing_since is not None:  # re-triggered: keep firing
                track.clearing_since = None
                self._cancel(track, "keep")
        elif holds is None:
            self.stats.unknown += 1
        elif phase is _INACTIVE:
            if holds:
                track.since = now
                if d.for_:
                    track.phase = _PENDING
                    self._schedule(rule, key, track, "for", now + timedelta(seconds=d.for_))
                else:
                    self._fire(rule, key, track, now)
        elif not holds:  # pending, and the condition broke: start over
            track.phase = _INACTIVE
            track.since = None
            self._cancel(track, "for")

    @staticmethod
    def _cooldown_allows(d: RuleDef, track: AlertTrack, now: datetime) -> bool:
        if not d.cooldown or track.last_fire_notice is None:
            return True
        return (now - track.last_fire_notice).total_seconds() >= d.cooldown

    def _fire(self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime) -> None:
        d = rule.definition
        track.phase = _FIRING
        track.clearing_since = None
        if track.timers:
            self._cancel(track, "for")
        if d.cooldown and not self._cooldown_allows(d, track, at):
            track.notified = False
            self.stats.suppressed += 1
            return
        track.notified = True
        track.last_fire_notice = track.last_notice = at
        if d.repeat:
            self._schedule(rule, key, track, "repeat", at + timedelta(seconds=d.repeat))
        self._notify(rule, key, track, "firing", at)

    def _resolve(self, rule: CompiledRule, key: str, track: AlertTrack, at: datetime) -> None:
        if track.timers:
            for name in ("for", "keep", "repeat"):
                self._cancel(track, name)
        # The state is final before anything is emitted: a subscriber persisting it sees it so.
        announce, since = rule.definition.resolve and track.notified, track.since
        track.phase = _INACTIVE
        track.since = track.clearing_since = None
        track.notified = False
        if announce:
            self._notify(rule, key, track, "resolved", at, since=since)

    # -- output ---------------------------------------------------------------------------

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
        d = rule.definition
        entry = self.values.get(key)
        if entry is not None:
            value, number, previous = entry.value, entry.number, entry.previous
        else:
            value = number = previous = None
        since = since or track.since or at
        track.seq += 1
        fp, id_base = track.fingerprint, track.id_base
        if not id_base:
            fp = track.fingerprint = fingerprint(d.name, key)
            id_base = track.id_base = alert_id_base(fp, self.id_salt)
        if rule.default_texts:  # the built-in title and message: no template machinery
            title = default_title(d.name, state, key, value)
            message = default_message(d.name, d.description or "", key, value, format_time(since))
        else:
            title, message = self._render_texts(rule, key, entry, state, since, at)
        alert = new_alert(
            f"{id_base}{track.seq:016x}",  # alerts.alert_id, without hashing per alert
            fp,
            d.name,
            key,
            state,
            d.severity,
            value,
            number,
            previous,
            since,
            at,
            title,
            message,
        )
        self.stats.alerts[(d.name, state)] += 1
        try:
            self._emit(alert)
        except Exception:
            self.stats.errors += 1
            log.exception("a subscriber of the alert stream raised on rule %r", d.name)

    def _render_texts(
        self,
        rule: CompiledRule,
        key: str,
        entry: KeyValue | None,
        state: AlertState,
        since: datetime,
        at: datetime,
    ) -> tuple[str, str]:
        d = rule.definition
        renders = rule.renders  # times are formatted only for templates that show them
        context = {
            "rule": d.name,
            "description": d.description or "",
            "key": key,
            "value": entry.value if entry else None,
            "number": entry.number if entry else None,
            "previous": entry.previous if entry else None,
            "state": state,
            "severity": d.severity,
            "since": format_time(since) if "since" in renders else "",
            "at": format_time(at) if "at" in renders else "",
            "values": self._values_view,
            "icon": entry.icon if entry else None,
        }
        return self._render(d, "title", context), self._render(d, "message", context)

    def _render(self, d: RuleDef, which: str, context: dict[str, Any]) -> str:
        template = d.title if which == "title" else d.message
        try:
            return template.render_map(context)
        except TemplateError as exc:
            # The alert still goes out, with a plain text that says what went wrong.
            self.stats.errors += 1
            log.error("rule %r: %s template failed: %s", d.name, which, exc)
            return f"{d.name} {context['state']}: {context['key']} = {context['value']}"

    # -- snapshot / restore ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as plain JSON-able data (see :meth:`_restore`)."""
        with self._lock:
            values = {
                key: [e.value, e.icon, e.removed, _stamp(e.last_set), e.previous]
                for key, e in self.values.items()
            }
            tracks: dict[str, dict[str, Any]] = {}
            for rule_name, by_key in self.tracks.items():
                saved = {key: self._save_track(t) for key, t in by_key.items()}
                if saved:
                    tracks[rule_name] = saved
            return {
                "version": STATE_VERSION,
                "at": _stamp(self.scheduler.now),
                "values": values,
                "tracks": tracks,
            }

    def changes(self, limit: int | None = None) -> dict[str, Any]:
        """Like :meth:`snapshot`, but only the values and tracks touched since the last call.

        With ``limit``, at most that many values and tracks are taken (values first); the rest
        stay for the next call, so a large checkpoint can be written piece by piece.
        """
        with self._lock:
            dirty_keys, dirty_tracks = self._dirty_keys, self._dirty_tracks
            room = len(dirty_keys) + len(dirty_tracks) if limit is None else limit
            values = {}
            while dirty_keys and room > 0:
                key = dirty_keys.pop()
                room -= 1
                e = self.values.get(key)
                if e is not None:
                    values[key] = [e.value, e.icon, e.removed, _stamp(e.last_set), e.previous]
            tracks: dict[str, dict[str, Any]] = {}
            rules = self.ruleset.rules
            while dirty_tracks and room > 0:
                index, key = dirty_tracks.pop()
                room -= 1
                track = self._by_index[index].get(key)
                if track is not None:
                    tracks.setdefault(rules[index].name, {})[key] = self._save_track(track)
            return {"version": STATE_VERSION, "values": values, "tracks": tracks}

    @property
    def pending_changes(self) -> int:
        """How many values and tracks :meth:`changes` has yet to hand out."""
        return len(self._dirty_keys) + len(self._dirty_tracks)

    def track_state(self, rule: str, key: str) -> dict[str, Any] | None:
        """One rule+key's state as in :meth:`snapshot` (what the daemon saves with each alert)."""
        with self._lock:
            track = self.tracks.get(rule, {}).get(key)
            return self._save_track(track) if track is not None else None

    @staticmethod
    def _save_track(t: AlertTrack) -> dict[str, Any]:
        return {
            "phase": t.phase.value,
            "since": _stamp(t.since),
            "last_fire_notice": _stamp(t.last_fire_notice),
            "notified": t.notified,
            "last_notice": _stamp(t.last_notice),
            "clearing_since": _stamp(t.clearing_since),
            "seq": t.seq,
            "held_due": _stamp(t.held_due),
            "stale_origin": _stamp(t.stale_origin),
        }

    def _restore(self, state: Mapping[str, Any], now: datetime) -> None:
        """Resume from :meth:`snapshot`. Rules are matched by name; unknown ones are dropped.

        A ``for`` timer resumes from its recorded start if it is still due in the future; one
        that fell due while we were not running restarts its wait from ``now`` (the values it
        was based on are stale; the snapshot after reconnect brings fresh ones).
        """
        if state.get("version") != STATE_VERSION:
            log.warning(
                "state has version %r, expected %d: starting clean",
                state.get("version"),
                STATE_VERSION,
            )
            return
        for key, saved_value in state.get("values", {}).items():
            value, icon, removed, last_set, *rest = saved_value
            previous = rest[0] if rest else None
            self.values[key] = KeyValue(
                value,
                parse_number(value) if value is not None else None,
                previous=previous,
                previous_number=parse_number(previous) if previous is not None else None,
                removed=bool(removed),
                last_set=_time(last_set),
                icon=icon,
            )
        by_name = {rule.name: rule for rule in self.ruleset.rules}
        for rule_name, saved_tracks in state.get("tracks", {}).items():
            rule = by_name.get(rule_name)
            if rule is None:
                continue
            for key, saved in saved_tracks.items():
                if not any(r is rule for r in self.ruleset.rules_for(key)):
                    continue  # the rule no longer watches this key
                track = self._track(rule, key)
                self._load_track(track, saved)
                self._resume_timers(rule, key, track, now)

    @staticmethod
    def _load_track(track: AlertTrack, saved: Mapping[str, Any]) -> None:
        track.phase = Phase(saved.get("phase", "inactive"))
        track.since = _time(saved.get("since"))
        track.last_fire_notice = _time(saved.get("last_fire_notice"))
        track.notified = bool(saved.get("notified"))
        track.last_notice = _time(saved.get("last_notice"))
        track.clearing_since = _time(saved.get("clearing_since"))
        track.seq = int(saved.get("seq", 0))
        track.held_due = _time(saved.get("held_due"))
        track.stale_origin = _time(saved.get("stale_origin"))

    def _resume_timers(
        self, rule: CompiledRule, key: str, track: AlertTrack, now: datetime
    ) -> None:
        d = rule.definition
        if track.phase is _PENDING:
            if not d.for_ or rule.event_rule:
                track.phase, track.since = _INACTIVE, None
            else:
                since = track.since or now
                due = since + timedelta(seconds=d.for_)
                if due < now:
                    track.since, due = now, now + timedelta(seconds=d.for_)
                self._schedule(rule, key, track, "for", due)
        if track.phase is _FIRING:
            if track.clearing_since is not None and d.keep_firing_for:
                keep_due = track.clearing_since + timedelta(seconds=d.keep_firing_for)
                self._schedule(rule, key, track, "keep", max(keep_due, now))
            if track.notified and d.repeat and track.last_notice is not None:
                repeat_due = track.last_notice + timedelta(seconds=d.repeat)
                self._schedule(rule, key, track, "repeat", max(repeat_due, now))
        if track.held_due is not None and d.debounce:
            self._schedule(rule, key, track, "debounce", max(track.held_due, now))
        else:
            track.held_due = None
