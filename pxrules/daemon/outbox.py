"""From the engine's alerts to deliveries: routed to outbox items, written to the store together
with the alerts' track states (one transaction), then handed to delivery.

That order is the crash-safety rule of :mod:`pxrules.daemon.store`: after ``kill -9`` the engine
resumes from a state that already counts the alert, and the outbox still holds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..alerts import Alert
from ..engine import Engine
from ..engine.buffers import Buffers
from ..logtags import tagged
from ..ratelimit import RateLimitedLog
from .delivery import Dispatcher
from .notifiers.log import LogTarget
from .routing import route
from .store import FencedWrite, OutboxItem, ProjectStore, StoreError

log = logging.getLogger("pxrules.daemon")


class AlertOutbox:
    """Takes alerts inside the engine's call and persists and delivers them once it returns.

    The daemon sets :attr:`engine`, :attr:`dispatcher` and :attr:`notify` (and sets them again
    on reload). In a dry run alerts are only logged.
    """

    def __init__(
        self, store: ProjectStore, log_target: LogTarget, *, dry_run: bool = False, tag: str = ""
    ) -> None:
        self.store = store
        self.dry_run = dry_run
        self._log = log_target
        self.engine: Engine | None = None
        self.dispatcher: Dispatcher | None = None
        self.notify: Mapping[str, Sequence[str]] = {}
        self._pending: list[Alert] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        # Routed alerts waiting for the store; one writer takes all that wait in one
        # transaction, so a burst costs few transactions and little memory.
        self._unwritten: list[tuple[list[OutboxItem], dict[tuple[str, str], Any], float]] = []
        self._writer: asyncio.Task[None] | None = None
        # A full disk fails every flush; the lines start with the project's name (``tag``).
        self._store_errors = RateLimitedLog(tagged(tag, log), logging.ERROR)
        #: Grouped notifiers and notifiers with time windows (the daemon sets it).
        self.buffers: Buffers | None = None
        self._emitted: list[OutboxItem] = []  # notifications the buffers let out
        self._groups: dict[tuple[str, str], dict[str, Any] | None] = {}  # changed groups

    def on_alert(self, alert: Alert) -> None:
        # Called inside the engine: only queue here; persist and hand over once it returns.
        self._pending.append(alert)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def on_buffered(self, notifier: str, document: dict[str, Any]) -> None:
        """A buffer lets a notification out (a group's, or one a time window held)."""
        if self.dispatcher is None:
            return
        now = time.time()
        self._emitted += [
            OutboxItem(str(document["id"]), target, notifier, document, now, 0, now)
            for target in self.dispatcher.targets_of(notifier) or ()
        ]
        self._soon()

    def on_group_change(self, notifier: str, key: str, data: dict[str, Any] | None) -> None:
        """A group changed: it is written with the next batch (None: it is gone)."""
        self._groups[(notifier, key)] = data
        self._soon()

    def _soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Route what is queued; write it and deliver it in a task of its own."""
        self._flush_scheduled = False
        alerts, self._pending = self._pending, []
        if self.dispatcher is None:
            return
        if self.dry_run:  # log, deliver nothing
            for alert in alerts:
                self._spawn(self._dry_run(alert))
            return
        now = time.time()
        items: list[OutboxItem] = []
        tracks: dict[tuple[str, str], dict[str, Any]] = {}
        buffers = self.buffers
        for alert in alerts:
            wants = buffers.wants if buffers is not None else None
            items += route(alert, self.notify, self.dispatcher.targets_of, now, buffered=wants)
            if buffers is not None:
                for notifier in self.notify.get(alert.rule, ("log",)):
                    if buffers.wants(notifier):
                        buffers.add(notifier, alert.to_document())
            state = self.engine.track_state(alert.rule, alert.key) if self.engine else None
            if state is not None:
                tracks[(alert.rule, alert.key)] = state
        if self._emitted:
            items += self._emitted
            self._emitted = []
        if items or tracks or self._groups:
            self._unwritten.append((items, tracks, now))
            if self._writer is None or self._writer.done():
                self._writer = asyncio.ensure_future(self._write_then_deliver())
                self._tasks.add(self._writer)
                self._writer.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every alert flushed so far is written and handed to delivery."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dry_run(self, alert: Alert) -> None:
        await self._log.send(alert.to_document())

    async def _write_then_deliver(self) -> None:
        """Outbox rows and the alerts' states in one transaction (everything routed since the
        last one), then the first attempts; until nothing waits."""
        while self._unwritten:
            batches, self._unwritten = self._unwritten, []
            groups, self._groups = self._groups, {}
            try:
                await self.store.run(
                    self.store.record_batches,
                    [
                        (
                            [(i.id, i.target, i.notifier, i.document) for i in items],
                            [(rule, key, data) for (rule, key), data in tracks.items()],
                            now,
                        )
                        for items, tracks, now in batches
                    ],
                    [(notifier, key, data) for (notifier, key), data in groups.items()],
                )
            except FencedWrite as exc:  # another daemon owns the project now: it sends them
                self._store_errors.log("%s: %d alert batch(es) not sent", exc, len(batches))
                continue
            except StoreError as exc:
                self._store_errors.log(
                    "%s; delivering from memory (a restart would lose these)", exc
                )
                stored = False
            else:
                stored = True
            assert self.dispatcher is not None
            for items, _, _ in batches:
                for item in items:
                    self.dispatcher.submit(item, stored=stored)
