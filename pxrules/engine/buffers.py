"""Notifiers whose notifications wait: in **groups** (a notifier's ``group:``) and for the
notifier's **time windows** (its ``mute_during`` / ``only_during``).

A grouped notifier gets one notification per group — the alerts with the same ``by`` labels —
the first ``wait`` after the group's first alert, later ones when something changed, at most
every ``interval``: a group document listing every alert of the group still firing and those
resolved since the last one (:func:`pxrules.alerts.group_document`). A notifier with time
windows is sent nothing while muted; when the window ends it is sent what is still true: the
latest notification of each alert, except the resolve of a firing it was never told.

Times come from the scheduler (virtual in replay and tests); flushes due at the same instant
run in (due, notifier, group) order. Each group's state is plain JSON (``on_change`` hands it
over to be stored, so groups survive a restart: :meth:`Buffers.restore`).

>>> from reactivex.testing import TestScheduler
>>> from pxrules.rules.model import Buffering
>>> from pxrules.rules.schema import GroupSpec
>>> scheduler, sent = TestScheduler(), []
>>> buffers = Buffers({"hook": Buffering(GroupSpec(by=["rule"], wait=30, interval=300))},
...                   {}, scheduler, lambda notifier, doc: sent.append((scheduler.clock, doc)))
>>> for key in ("t/1", "t/2"):
...     buffers.add("hook", {"id": key, "fingerprint": key, "rule": "hot", "key": key,
...                          "state": "firing", "severity": "warning"})
>>> scheduler.advance_to(100)
>>> [(t, doc["group_key"], doc["status"], len(doc["alerts"])) for t, doc in sent]
[(30.0, 'hook{rule="hot"}', 'firing', 2)]
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from reactivex import abc as rx_abc

from ..alerts import alert_id_base, group_document
from ..rules.matchers import LabelMatcher
from ..rules.model import Buffering
from ..rules.windows import TimeWindow

log = logging.getLogger("pxrules.rules")

#: ``(notifier, document)``: a notification leaves the buffer for the notifier's targets.
Emit = Callable[[str, dict[str, Any]], None]
#: ``(notifier, group key, state or None)``: a group changed (None: it is gone).
OnChange = Callable[[str, str, dict[str, Any] | None], None]


def _ts(moment: datetime) -> float:
    return moment.timestamp()


class _Group:
    """One group of one notifier (a windowed notifier without ``group`` has one per alert)."""

    __slots__ = (
        "created",
        "due",
        "key",
        "last_flush",
        "notifier",
        "pending",
        "seq",
        "shown",
        "token",
        "told",
    )  # fmt: skip

    def __init__(self, notifier: str, key: str, created: float) -> None:
        self.notifier, self.key, self.created = notifier, key, created
        self.pending: dict[str, dict[str, Any]] = {}  # fingerprint → latest doc since a flush
        self.shown: dict[str, dict[str, Any]] = {}  # fingerprint → latest firing doc (listed)
        self.told: dict[str, str] = {}  # fingerprint → the state the notifier was last told
        self.last_flush: float | None = None
        self.seq = 0
        self.due: float | None = None
        self.token = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created, "pending": self.pending, "shown": self.shown,
            "told": self.told, "last_flush": self.last_flush, "seq": self.seq, "due": self.due,
        }  # fmt: skip

    @classmethod
    def from_json(cls, notifier: str, key: str, data: Mapping[str, Any]) -> _Group:
        group = cls(notifier, key, float(data.get("created", 0.0)))
        group.pending = dict(data.get("pending") or {})
        group.shown = dict(data.get("shown") or {})
        group.told = dict(data.get("told") or {})
        group.last_flush = data.get("last_flush")
        group.seq = int(data.get("seq", 0))
        group.due = data.get("due")
        return group

    @property
    def empty(self) -> bool:
        return not (self.pending or self.shown or self.told)


class Buffers:
    """The buffers of every buffered notifier (``plans``: notifier → :class:`Buffering`)."""

    def __init__(
        self,
        plans: Mapping[str, Buffering],
        windows: Mapping[str, TimeWindow],
        scheduler: rx_abc.SchedulerBase,
        emit: Emit,
        *,
        project: str = "",
        salt: str = "",
        event_rules: Collection[str] = (),
        on_change: OnChange | None = None,
    ) -> None:
        self.plans = dict(plans)
        self.windows = dict(windows)
        self.scheduler = scheduler
        self.emit = emit
        self.project = project
        self.salt = salt
        self.event_rules = set(event_rules)
        self.on_change = on_change
        self.groups: dict[tuple[str, str], _Group] = {}
        self._heap: list[tuple[float, str, str, int]] = []
        self._tokens = itertools.count(1)
        self._wake: rx_abc.DisposableBase | None = None
        self._wake_at: float | None = None
        self._captures = {
            label: LabelMatcher.compile({"key": label})
            for plan in self.plans.values() if plan.group is not None
            for label in plan.group.by if "{" in label
        }  # fmt: skip

    def wants(self, notifier: str) -> bool:
        return notifier in self.plans

    def configure(
        self,
        plans: Mapping[str, Buffering],
        windows: Mapping[str, TimeWindow],
        event_rules: Collection[str] = (),
    ) -> None:
        """A reload: new plans. The groups of a notifier that no longer buffers go out now (as
        they would have, its windows aside)."""
        now = _ts(self.scheduler.now)
        for group in [g for g in self.groups.values() if g.notifier not in plans]:
            self._flush(group, now, force=True)
            gone = self.groups.pop((group.notifier, group.key), None)
            if gone is not None and self.on_change is not None:
                self.on_change(group.notifier, group.key, None)
        self.plans, self.windows = dict(plans), dict(windows)
        self.event_rules = set(event_rules)
        for plan in self.plans.values():
            for label in plan.group.by if plan.group is not None else ():
                if "{" in label:
                    self._captures[label] = LabelMatcher.compile({"key": label})

    # -- in ---------------------------------------------------------------------------------

    def add(self, notifier: str, doc: dict[str, Any]) -> None:
        """A notification for a buffered notifier."""
        plan = self.plans[notifier]
        now = _ts(self.scheduler.now)
        key = self._group_key(notifier, plan, doc)
        group = self.groups.get((notifier, key))
        if group is None:
            group = self.groups[(notifier, key)] = _Group(notifier, key, now)
        # An alert's newer notification replaces the older one still waiting; each match of an
        # event rule is its own.
        slot = doc["id"] if self._once(doc) else doc["fingerprint"]
        group.pending[str(slot)] = doc
        if plan.group is None:
            due = now
        elif group.last_flush is None:
            due = group.created + plan.group.wait
        else:
            due = max(now, group.last_flush + plan.group.interval)
        if group.due is None or due < group.due:
            self._schedule(group, due)
        if group.due is not None and group.due <= now:
            self._run_due(now)
        else:
            self._changed(group)

    def restore(self, rows: Iterator[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Groups from the state file; those already due go out at once."""
        for notifier, key, data in rows:
            if notifier not in self.plans:
                continue  # the notifier is gone or no longer buffers: its state is dropped
            group = self.groups[(notifier, key)] = _Group.from_json(notifier, key, data)
            if group.due is not None:
                self._schedule(group, group.due)
        self._run_due(_ts(self.scheduler.now))

    def next_due(self) -> datetime | None:
        """When the next group is due (replay runs until nothing is)."""
        while self._heap:
            due, notifier, key, token = self._heap[0]
            group = self.groups.get((notifier, key))
            if group is not None and group.token == token:
                return datetime.fromtimestamp(due, UTC)
            heapq.heappop(self._heap)
        return None

    def _group_key(self, notifier: str, plan: Buffering, doc: dict[str, Any]) -> str:
        if plan.group is None:  # windows only: each alert on its own
            return f"{notifier}/{doc['fingerprint']}"
        parts = []
        for label in plan.group.by:
            if "{" in label:
                captured = self._captures[label].match({"key": str(doc.get("key", ""))}) or {}
                names = sorted(self._captures[label].captures)
                parts += [f'{name}="{captured.get(name, "")}"' for name in names]
            else:
                value = self.project if label == "project" else doc.get(label, "")
                parts.append(f'{label}="{value}"')
        return f"{notifier}{{{','.join(parts)}}}"

    # -- out --------------------------------------------------------------------------------

    def _schedule(self, group: _Group, due: float) -> None:
        group.due = due
        group.token = next(self._tokens)
        heapq.heappush(self._heap, (due, group.notifier, group.key, group.token))
        if self._wake_at is None or due < self._wake_at:
            if self._wake is not None:
                self._wake.dispose()
            self._wake_at = due
            self._wake = self.scheduler.schedule_absolute(
                datetime.fromtimestamp(due, UTC), self._on_wake
            )

    def _on_wake(self, _scheduler: rx_abc.SchedulerBase, _state: Any = None) -> None:
        # Everything due by the wake-up time counts as due (a live clock may read a hair early).
        horizon = max(_ts(self.scheduler.now), self._wake_at or 0.0)
        self._wake = self._wake_at = None
        self._run_due(horizon)

    def _run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, notifier, key, token = heapq.heappop(self._heap)
            group = self.groups.get((notifier, key))
            if group is None or group.token != token:
                continue
            group.due = None
            try:
                self._flush(group, now)
            except Exception:
                log.exception("the buffer of notifier %r failed on group %s", notifier, key)
        if self._heap and self._wake is None:
            due = self._heap[0][0]
            self._wake_at = due
            self._wake = self.scheduler.schedule_absolute(
                datetime.fromtimestamp(due, UTC), self._on_wake
            )

    def _muted_until(self, plan: Buffering, now: float) -> float | None:
        """When the notifier's windows stop muting it, if they mute it at ``now``."""
        at = datetime.fromtimestamp(now, UTC)
        for name in plan.mute_during:
            window = self.windows.get(name)
            if window is not None and window.active(at):
                return _ts(window.next_change(at))
        if plan.only_during:
            windows = [w for n in plan.only_during if (w := self.windows.get(n)) is not None]
            if windows and not any(w.active(at) for w in windows):
                return min(_ts(w.next_change(at)) for w in windows)
        return None

    def _flush(self, group: _Group, now: float, *, force: bool = False) -> None:
        plan = self.plans[group.notifier]
        if not force:
            until = self._muted_until(plan, now)
            if until is not None:
                self._schedule(group, until)
                self._changed(group)
                return
        grouped = plan.group is not None
        out: list[dict[str, Any]] = []
        for fp, doc in group.pending.items():
            state = doc.get("state")
            if state == "resolved":
                group.shown.pop(fp, None)
                if group.told.pop(fp, None) is None:
                    continue  # never told it fired: nothing to resolve
            elif self._once(doc):
                pass  # an event rule's match is told once, never listed again
            else:
                group.told[fp] = str(state)
                group.shown[fp] = doc
            out.append(doc)
        group.pending = {}
        if out:
            group.last_flush = now
            if grouped:
                group.seq += 1
                listed = [*group.shown.values()]
                listed += [d for d in out if d.get("state") == "resolved" or self._once(d)]
                self.emit(group.notifier, group_document(self._group_id(group), group.key, listed))
            else:
                for doc in out:
                    self.emit(group.notifier, doc)
        if not grouped:
            group.shown = {}
        if group.empty and group.due is None:
            del self.groups[(group.notifier, group.key)]
            if self.on_change is not None:
                self.on_change(group.notifier, group.key, None)
        else:
            self._changed(group)

    def _once(self, doc: dict[str, Any]) -> bool:
        return doc.get("rule") in self.event_rules

    def _group_id(self, group: _Group) -> str:
        fp = hashlib.sha256(f"{group.notifier}\x00{group.key}".encode()).hexdigest()[:16]
        return f"{alert_id_base(fp, self.salt)}{group.seq:016x}"

    def _changed(self, group: _Group) -> None:
        if self.on_change is not None:
            self.on_change(group.notifier, group.key, group.to_json())
