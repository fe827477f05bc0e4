"""Delivery: one queue and one worker per target, retries with backoff, every attempt recorded.

A slow or dead target only delays its own queue: event processing and other targets go on.
Within a target, notifications go out in order (a resolve never overtakes its firing).

A backlog streams from the store: a worker holds at most :data:`BACKLOG_WINDOW` items in
memory; the items after them wait in the outbox table and are read a window at a time once the
worker gets to them (also at start, for what a previous run left pending).

The retry decision is a pure function of the attempt's result and the clock
(:func:`.decision.next_step`), so it is tested without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..alerts import is_group
from ..backoff import Backoff
from ..logtags import tagged
from ..ratelimit import RateLimitedLog
from .decision import DEFAULT_BACKOFF, Decision, next_step
from .notifiers.base import Outcome, Result, Target
from .store import AttemptRecord, FencedWrite, OutboxItem, ProjectStore, StoreError

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger("pxrules.dispatch")

#: Attempt records the store refused are tried again after this many seconds, doubling up to
#: the maximum.
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.5, 5.0
#: Outbox items a target's worker holds in memory; the rest of its backlog stays in the store.
BACKLOG_WINDOW = 256
_NOT_CONFIGURED = "target no longer configured"


@dataclass
class DispatchStats:
    """Delivery's counters; :meth:`Dispatcher.metrics` exports them with the outbox depth."""

    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)  # (notifier, outcome)
    retries: Counter[str] = field(default_factory=Counter)
    dropped: int = 0  # items for a target no longer configured


class TargetWorker:
    """Delivers one target's notifications in order, retrying the head until done."""

    def __init__(self, dispatcher: Dispatcher, notifier: str, target: Target) -> None:
        self.dispatcher = dispatcher
        self.notifier = notifier
        self.target = target
        self.queue: deque[OutboxItem] = deque()
        self.spilled = 0  # items waiting in the store, after those in `queue`
        self.later: deque[OutboxItem] = deque()  # unstored items that came while spilled
        self._refilling = False
        self._spill_missed = False  # an item spilled while a refill was reading
        self._wakeup = asyncio.Event()
        self.busy = False
        self.retired = False  # the target left the configuration: finish the attempt, stop
        self.waiting = False  # busy, but between two attempts of its item (a retry's wait)
        self._replaced: list[Target] = []  # targets swapped out, closed once idle
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"pxrules-deliver-{self.target.name}"
        )

    def put(self, item: OutboxItem, *, stored: bool = True) -> None:
        """Queue ``item``; one that is in the store waits there when the window is full."""
        streams = stored and self.dispatcher.store is not None
        if streams and (self.spilled or len(self.queue) >= BACKLOG_WINDOW):
            self.spilled += 1
            self._spill_missed |= self._refilling
        elif self.spilled:
            self.later.append(item)  # after the stored ones: the order holds
        else:
            self.queue.append(item)
        self._wakeup.set()

    def resume(self, count: int) -> None:
        """``count`` items of this target are pending in the store (a previous run's)."""
        self.spilled += count
        self._wakeup.set()

    @property
    def depth(self) -> int:
        return len(self.queue) + len(self.later) + self.spilled + (1 if self.busy else 0)

    async def _refill(self) -> None:
        """Read the next window of this target's backlog from the store."""
        d = self.dispatcher
        assert d.store is not None
        await d.records_written()  # what was delivered is no longer pending there
        skip = d.unrecorded_ids()  # … unless the store refused to record it
        self._refilling, self._spill_missed = True, False
        try:
            rows = await d.store.run(d.store.pending, self.target.name, BACKLOG_WINDOW + len(skip))
        except StoreError as exc:
            d.store_errors.log("%s; reading the backlog again in 1s", exc)
            await asyncio.sleep(1.0)
            return
        finally:
            self._refilling = False
        items = [i for i in rows if (i.id, i.target) not in skip][:BACKLOG_WINDOW]
        self.queue.extend(items)
        if len(items) < BACKLOG_WINDOW and not self._spill_missed:
            self.spilled = 0  # all of it is in memory now
            self.queue.extend(self.later)
            self.later.clear()
        else:
            self.spilled = max(self.spilled - len(items), 1)

    def replace(self, target: Target) -> None:
        """Reload: the same target name with a new configuration. The attempt in flight (if
        any) ends with the old one; the queue and its order are kept."""
        if target is not self.target:
            self._replaced.append(self.target)
            self.target = target
            if not self.busy:
                self.close_replaced()

    def retire(self) -> list[OutboxItem]:
        """Reload removed this target: stop after the attempt in flight; returns the items it
        had not started (the caller records them as dropped)."""
        self.retired = True
        left, self.queue = [*self.queue, *self.later], deque()
        self.later.clear()
        if self.spilled:
            self.spilled = 0
            self.dispatcher.spawn(self.dispatcher.drop_stored(self.target.name))
        if (not self.busy or self.waiting) and self.task is not None:
            self.task.cancel()  # idle, or waiting to retry (that item is dropped as it stops)
        return left

    def close_replaced(self) -> None:
        for old in self._replaced:
            self.dispatcher.spawn(old.close())
        self._replaced.clear()

    async def _run(self) -> None:
        try:
            while not self.retired:
                while not self.queue:
                    if self.spilled:
                        await self._refill()
                        continue
                    self._wakeup.clear()
                    await self._wakeup.wait()
                item = self.queue.popleft()
                self.busy = True
                try:
                    await self._deliver(item)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug here must not stop this target's deliveries
                    self.dispatcher.log.exception(
                        "delivery to %s failed unexpectedly", self.target.name
                    )
                finally:
                    self.busy = False
                    self.close_replaced()
        finally:
            if self.retired:  # a live worker's target is closed by Dispatcher.drain
                await self.target.close()

    async def _deliver(self, item: OutboxItem) -> None:
        d = self.dispatcher
        attempts, next_attempt = item.attempts, item.next_attempt
        while True:
            wait = next_attempt - d.clock()
            if wait > 0:
                # Waiting for a retry is not an attempt in flight: a reload that removed this
                # target drops the item now, rather than retrying where it no longer goes.
                if self.retired:
                    d.drop(item)
                    return
                self.waiting = True
                try:
                    await d.sleep(wait)
                except asyncio.CancelledError:
                    if self.retired:
                        d.drop(item)
                    raise
                finally:
                    self.waiting = False
            if d.may_send is not None and not d.may_send():
                return  # the lease is gone: the new owner sends it (it is pending in the store)
            result = await self.target.send(item.document)
            attempts += 1
            now = d.clock()
            step = next_step(
                result,
                attempts=attempts,
                created=item.created,
                now=now,
                retry_for=d.retry_for.get(self.notifier, 3600.0),
                backoff=d.backoff,
            )
            d.stats.notifications[(self.notifier, result.outcome.value)] += 1
            # Recorded in the background (the store's thread keeps the order): the next
            # delivery does not wait for the disk. A crash before the mark is written means
            # one duplicate at most, never a loss.
            d.record_soon(item, self.target.name, result, step, attempts, now)
            if step.status == "delivered":
                # "Did my rule fire?" is answered by the log: every delivery at INFO, with the
                # target's name only (never its URL). The log target's own line is its delivery.
                level = logging.DEBUG if self.notifier == "log" else logging.INFO
                self.dispatcher.log.log(
                    level,
                    "delivered %s to %s (attempt %d, id %s)",
                    describe(item.document),
                    self.target.name,
                    attempts,
                    item.id,
                )
                return
            if step.status == "failed":
                self.dispatcher.log.error(
                    "giving up on notification %s (%s) to %s after %d attempt(s): %s — %s",
                    item.id,
                    describe(item.document),
                    self.target.name,
                    attempts,
                    result.detail,
                    step.reason,
                )
                return
            d.stats.retries[self.notifier] += 1
            self.dispatcher.log.warning(
                "delivery of %s to %s failed (%s); %s",
                item.id,
                self.target.name,
                result.detail,
                step.reason,
            )
            next_attempt = step.next_attempt


class Dispatcher:
    """Owns the workers; :meth:`submit` hands over an outbox item (already stored)."""

    def __init__(
        self,
        targets: Mapping[str, list[Target]],
        store: ProjectStore | None,
        *,
        retry_for: Mapping[str, float] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tag: str = "",
    ) -> None:
        #: Its log lines start with ``tag`` (the project's name, in a daemon of several).
        self.log = tagged(tag, log)
        self.store = store
        self.retry_for = dict(retry_for or {})
        self.backoff = backoff
        self.clock = clock
        self.sleep = sleep
        self.stats = DispatchStats()
        self.workers: dict[str, TargetWorker] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Attempt records the store refused, keyed by (id, target), written before newer ones.
        self._unrecorded: list[AttemptRecord] = []
        self.store_errors = RateLimitedLog(self.log, logging.ERROR)
        self._writer: asyncio.Task[None] | None = None  # writes the attempt records
        self.by_notifier: dict[str, list[TargetWorker]] = {}
        self._retired: list[TargetWorker] = []  # finishing their attempt in flight
        self._started = False
        self._closing = False
        self._closed = asyncio.Event()
        #: In a fleet, whether this daemon still holds the project's lease: asked right before
        #: every attempt (a daemon that lost it sends nothing more; the item stays pending for
        #: the new owner).
        self.may_send: Callable[[], bool] | None = None
        self._assign(targets)

    def _assign(self, targets: Mapping[str, list[Target]]) -> None:
        """Workers for ``targets``: a target name already served keeps its worker (its queue
        and the attempt in flight); the others are retired."""
        old, self.workers, self.by_notifier = self.workers, {}, {}
        for notifier, notifier_targets in targets.items():
            workers = []
            for target in notifier_targets:
                worker = old.pop(target.name, None)
                if worker is None or worker.notifier != notifier:
                    if worker is not None:
                        old[target.name] = worker  # retired below
                    worker = TargetWorker(self, notifier, target)
                else:
                    worker.replace(target)
                workers.append(worker)
                self.workers[target.name] = worker
            self.by_notifier[notifier] = workers
        for worker in old.values():
            self._retire(worker)

    def start(self) -> None:
        self._started = True
        for worker in self.workers.values():
            if worker.task is None:
                worker.start()

    def reconfigure(
        self, targets: Mapping[str, list[Target]], retry_for: Mapping[str, float]
    ) -> None:
        """Reload: serve ``targets`` from now on, without re-sending anything. Targets kept by
        name keep their queue and their attempt in flight; a removed target finishes that
        attempt and drops what it had queued (counted, recorded as failed)."""
        self.retry_for = dict(retry_for)
        self._assign(targets)
        if self._started:
            self.start()

    def _retire(self, worker: TargetWorker) -> None:
        for item in worker.retire():
            self.drop(item)
        self._retired = [w for w in self._retired if w.task is not None and not w.task.done()]
        if worker.task is None:
            self.spawn(worker.target.close())
        else:
            self._retired.append(worker)  # its task closes the target when it ends

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def targets_of(self, notifier: str) -> list[str]:
        return [w.target.name for w in self.by_notifier.get(notifier, [])]

    def submit(self, item: OutboxItem, *, stored: bool = True) -> None:
        """Hand over ``item``; ``stored`` says it is in the store (it may wait there)."""
        worker = self.workers.get(item.target)
        if worker is None:
            self.drop(item)
            return
        worker.put(item, stored=stored)

    async def resume(self) -> int:
        """Pick up what a previous run left pending in the store (read as the workers get to
        it); a target no longer configured has its items dropped. Returns how many."""
        if self.store is None:
            return 0
        counts = await self.store.run(self.store.pending_counts)
        for target, count in counts.items():
            worker = self.workers.get(target)
            if worker is None:
                await self.drop_stored(target)
            else:
                worker.resume(count)
        return sum(counts.values())

    async def drop_stored(self, target: str) -> None:
        """Mark the pending items of a target no longer configured as failed (counted)."""
        if self.store is None:
            return
        try:
            count = await self.store.run(
                self.store.fail_pending, target, _NOT_CONFIGURED, self.clock()
            )
        except StoreError as exc:
            self.store_errors.log("%s; items for %s stay pending", exc, target)
            return
        if count:
            self.stats.dropped += count
            self.log.error(
                "%d notification(s) for target %s, which is no longer configured: dropped",
                count,
                target,
            )

    def drop(self, item: OutboxItem) -> None:
        self.log.error(
            "notification %s is for target %s, which is no longer configured: dropped",
            item.id,
            item.target,
        )
        self.stats.dropped += 1
        dropped = Result(Outcome.PERMANENT, _NOT_CONFIGURED)
        step = Decision("failed", self.clock(), _NOT_CONFIGURED)
        self.record_soon(item, item.target, dropped, step, item.attempts, self.clock())

    def record_soon(
        self,
        item: OutboxItem,
        target: str,
        result: Result,
        step: Decision,
        attempts: int,
        now: float,
    ) -> None:
        """Record one attempt in the background: the outbox row's status and a log line."""
        if self.store is None:
            return
        self._unrecorded.append(
            AttemptRecord(
                item.id, target, result.outcome.value, result.detail, step.status, attempts,
                step.next_attempt, now,
            )
        )  # fmt: skip
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write(self.store))
            self._background.add(self._writer)
            self._writer.add_done_callback(self._background.discard)

    def unrecorded_ids(self) -> set[tuple[str, str]]:
        """``(id, target)`` of attempts whose record the store has not taken yet."""
        return {(r.id, r.target) for r in self._unrecorded}

    async def records_written(self) -> None:
        """Wait for the attempt records being written now."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _write(self, store: ProjectStore) -> None:
        """Write the attempt records in order, all that wait in one transaction. Those that
        cannot be written (disk full, database down) are kept and tried again, a little later
        each time, until they are written, so a delivered item is not left pending — and not
        sent again by whoever runs the project next."""
        delay = RECORD_RETRY_FIRST
        # The only writer (record_soon starts it when none runs): records keep their order.
        while self._unrecorded:
            batch = self._unrecorded[:]
            try:
                await store.run(store.record_attempts, batch)
            except FencedWrite as exc:  # the project is another daemon's now: nothing to keep
                self.log.warning("%s (%d attempt record(s))", exc, len(self._unrecorded))
                self._unrecorded.clear()
                return
            except StoreError as exc:
                self.store_errors.log(
                    "%s; delivery goes on, %d attempt record(s) kept to write later",
                    exc,
                    len(self._unrecorded),
                )
                if self._closing:  # stopping: what is left stays pending for the next start
                    return
                with contextlib.suppress(TimeoutError):  # drain wakes it for a last try
                    await asyncio.wait_for(self._closed.wait(), delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            del self._unrecorded[: len(batch)]
            delay = RECORD_RETRY_FIRST

    @property
    def depth(self) -> int:
        return sum(worker.depth for worker in self.workers.values())

    def metrics(self) -> Iterator[Metric]:
        """Delivery attempts and retries by notifier, dropped items, and the outbox depth."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        notifications = CounterMetricFamily(
            "pxrules_notifications",
            "Delivery attempts, by notifier and outcome",
            labels=["notifier", "outcome"],
        )
        for (notifier, outcome), count in self.stats.notifications.items():
            notifications.add_metric([notifier, outcome], count)
        yield notifications
        retries = CounterMetricFamily("pxrules_retries", "Delivery retries", labels=["notifier"])
        for notifier, count in self.stats.retries.items():
            retries.add_metric([notifier], count)
        yield retries
        yield CounterMetricFamily(
            "pxrules_dropped_notifications",
            "Notifications dropped because their target is no longer configured",
            self.stats.dropped,
        )
        yield GaugeMetricFamily(
            "pxrules_outbox_depth", "Notifications not yet delivered", self.depth
        )

    async def drain(self, grace: float) -> None:
        """Let queued deliveries finish for up to ``grace`` seconds, then stop the workers.

        What is not delivered by then stays pending in the outbox for the next start.
        """
        deadline = time.monotonic() + grace
        self._closing = True  # the attempt records get one more try, no more waiting
        self._closed.set()
        while (self.depth or any(w.busy for w in self._retired)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        workers = [*self.workers.values(), *self._retired]
        tasks = [w.task for w in workers if w.task is not None]
        for task in tasks:
            task.cancel()  # a retired worker's task closes its target as it ends
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in self.workers.values():
            worker.close_replaced()
            await worker.target.close()
        await asyncio.gather(*self._background, return_exceptions=True)  # records, closes


def describe(document: dict[str, Any]) -> str:
    """What a notification is about, for the log (never a URL or a secret).

    >>> describe({"state": "firing", "rule": "hot", "key": "t"})
    'firing of rule hot, key t'
    >>> describe({"group_key": 'phone{rule="hot"}', "status": "firing", "alerts": [{}, {}]})
    'firing group phone{rule="hot"} (2 alerts)'
    """
    if is_group(document):
        alerts = document["alerts"]
        return (
            f"{document['status']} group {document['group_key']} "
            f"({len(alerts)} alert{'' if len(alerts) == 1 else 's'})"
        )
    return f"{document.get('state')} of rule {document.get('rule')}, key {document.get('key')}"
