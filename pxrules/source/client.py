"""PxServ Socket.IO client as a hot reactivex Observable of :class:`~pxrules.events.Event`::

    async with PxServSource(api_key="...") as source:
        source.events.subscribe(print)
        await source.wait_closed()

The source owns its reconnect policy (python-socketio's own reconnection is off): transport drops
and server-side namespace disconnects are retried alike, forever, with capped exponential backoff
and jitter (:mod:`.policy`). A refusal on the very first connect is final and raises
:class:`KeyRefusedError` with the server's message; a refusal later (key revoked) is retried at
the long end (every 5 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import reactivex

from ..backoff import Backoff
from ..errors import KeyRefusedError
from ..events import DEFAULT_URL, MAX_KEYS, Event, MalformedEvent, parse_remove_data, parse_set_data
from ..logtags import tagged
from ..ratelimit import RateLimitedLog
from .link import Link, new_link, settle, wait_first
from .policy import ReconnectPolicy
from .rest import PxServRest
from .snapshot import KnownValues
from .status import (
    ConnectionState,
    ConnectionStatus,
    SourceStats,
    StatusBoard,
)
from .subjects import IsolatingSubject

log = logging.getLogger("pxrules.source")

#: The watchdog looks every this many seconds; a look this much later than due is a freeze.
WATCH_EVERY = 1.0
FROZEN_AFTER = 5.0


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


class PxServSource:
    """A connection to one PxServ project; ``events`` is hot and emits on the asyncio loop.

    Subscribe to ``events`` before awaiting anything after :meth:`start` (or entering the
    ``async with``): the first connection and its snapshot happen on the next loop turn.
    """

    def __init__(
        self,
        api_key: str,
        url: str = DEFAULT_URL,
        *,
        snapshot: bool = True,
        backoff: Backoff | None = None,
        refused_backoff: float | None = None,
        stable_after: float | None = None,
        clock: Callable[[], datetime] | None = None,
        transports: tuple[str, ...] = ("websocket",),
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        max_keys: int = MAX_KEYS,
        name: str = "",
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self._api_key = api_key
        self.url = url.rstrip("/")
        self.snapshot = snapshot
        self.policy = ReconnectPolicy(
            backoff or Backoff(initial=1.0, maximum=60.0), refused_backoff
        )
        if stable_after is not None:
            self.policy = dataclasses.replace(self.policy, stable_after=stable_after)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._transports = list(transports)
        self._connect_timeout = connect_timeout
        self.rest = PxServRest(api_key, self.url, timeout=request_timeout)

        self._events: IsolatingSubject[Event] = IsolatingSubject(self._subscriber_failed)
        self.stats = SourceStats()
        self._board = StatusBoard(self._clock, self.stats)
        #: Its log lines start with ``name`` (a daemon of many projects names each).
        self._log = tagged(name, log)
        self._malformed_warning = RateLimitedLog(self._log, logging.WARNING)
        self._values = KnownValues(max_keys)
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._connected_once: asyncio.Future[None] | None = None
        self._link: Link | None = None  # the live connection
        self._snapshotting = asyncio.Lock()  # one snapshot at a time
        self._synced = asyncio.Event()  # set after each snapshot (or connect, without them)
        self._background: set[asyncio.Task[None]] = set()

    # -- public surface -------------------------------------------------------------------

    @property
    def events(self) -> reactivex.Observable[Event]:
        """Hot Observable of every valid event (live and snapshot)."""
        return self._events

    @property
    def status(self) -> reactivex.Observable[ConnectionStatus]:
        """Connection state changes; replays the current state to each new subscriber."""
        return self._board.subject

    @property
    def current_status(self) -> ConnectionStatus:
        return self._board.current

    def __repr__(self) -> str:  # the key is deliberately absent
        return f"PxServSource(url={self.url!r}, state={self.current_status.state.value})"

    async def start(self) -> None:
        """Begin connecting in the background. Idempotent."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._connected_once = loop.create_future()
        self._task = loop.create_task(self._run(), name="pxrules-source")

    async def wait_connected(self) -> None:
        """Return once the first connection is up; raise KeyRefusedError if it was refused."""
        await self.start()
        assert self._connected_once is not None
        await asyncio.shield(self._connected_once)

    async def wait_closed(self) -> None:
        """Wait until the source stops: after :meth:`close`, or raise if the key was refused."""
        await self.start()
        assert self._task is not None
        await asyncio.shield(self._task)

    async def close(self) -> None:
        """Disconnect, stop reconnecting and complete ``events``."""
        self._closing.set()
        if self._task is not None:
            with contextlib.suppress(KeyRefusedError, asyncio.CancelledError):
                await self._task
        link, self._link = self._link, None
        if link is not None:
            await link.discard()
        for task in list(self._background):
            task.cancel()
        await self.rest.close()
        if self.current_status.state != ConnectionState.REFUSED:
            self._board.set(ConnectionState.CLOSED)
        self._events.on_completed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def revalidate(self) -> None:
        """Re-read PxServ now (a snapshot), or wait for the one after the next connect.

        The daemon calls it after a clock jump, before time-driven alerts are judged: the
        events that arrived during a freeze are read by then, and what the snapshot finds
        changed is emitted."""
        self._synced.clear()
        link = self._link
        if link is not None and not link.closed.is_set():
            await link.caught_up()  # the packets that arrived during the freeze, first
            if self.snapshot:
                await self._take_snapshot(link.closed)
            self._synced.set()
        await self._synced.wait()

    async def fetch_all(self) -> dict[str, Any]:
        """REST ``GET /database/getAll``: the current value of every key."""
        return await self.rest.get_all()

    # -- connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        ever_connected = False
        reconnects = 0
        while not self._closing.is_set():
            self._board.set(ConnectionState.CONNECTING, failures=failures, reconnects=reconnects)
            link = self._new_link()
            client = link.client
            try:
                await client.connect(
                    self.url,
                    auth=self._auth,
                    transports=self._transports,
                    wait_timeout=self._connect_timeout,
                )
            except Exception as exc:  # whatever the transport raised: one failed attempt
                refused = "/" in client.failed_namespaces
                await link.discard()
                if refused:
                    reason = link.refusal or "connection refused by the server"
                    retry = self.policy.after_refused(failures)
                    failures = retry.failures
                    self._board.set(ConnectionState.REFUSED, reason, failures, reconnects)
                    if not ever_connected:  # final: the caller reports it, once
                        error = KeyRefusedError(reason)
                        settle(self._connected_once, error)
                        raise error from None
                    self._log.error(
                        "PxServ refuses the API key now (%s): was it revoked or rotated? "
                        "Fix source.api_key and restart; retrying every %.0fs meanwhile",
                        reason,
                        retry.delay,
                    )
                else:
                    reason = _describe(exc)
                    retry = self.policy.after_failed_connect(failures)
                    failures = retry.failures
                    self._board.set(ConnectionState.DISCONNECTED, reason, failures, reconnects)
                    # Until the first connection, the likely causes: say them.
                    hint = "" if ever_connected else " (is the URL right, is PxServ reachable?)"
                    self._log.warning(
                        "cannot connect to %s: %s; retrying in %.1fs%s",
                        self.url,
                        reason,
                        retry.delay,
                        hint,
                    )
                await self._sleep(retry.delay)
                continue

            self._link = link
            if ever_connected:
                reconnects += 1
                self.stats.reconnects = reconnects
            ever_connected = True
            connected_at = time.monotonic()
            self._board.set(ConnectionState.CONNECTED, reconnects=reconnects)
            self._log.info("connected to %s", self.url)
            settle(self._connected_once, None)
            link.restart_liveness()
            if self.snapshot:
                await self._take_snapshot(link.closed)
            self._synced.set()
            await self._watch(link)
            reason = link.reason or "connection closed"
            self._link = None
            await link.discard()
            if self._closing.is_set():
                break
            retry = self.policy.after_connection(time.monotonic() - connected_at, failures)
            failures = retry.failures
            self._board.set(ConnectionState.DISCONNECTED, reason, failures, reconnects)
            self._log.warning(
                "disconnected from %s (%s); reconnecting in %.1fs", self.url, reason, retry.delay
            )
            await self._sleep(retry.delay)

    async def _watch(self, link: Link) -> None:
        """Until the link closes: notice a freeze (the server gets a new ping window, and what
        changed meanwhile is re-read) and a server gone silent (the link is closed)."""
        last = time.monotonic()
        while not (link.closed.is_set() or self._closing.is_set()):
            await wait_first(link.closed, self._closing, timeout=WATCH_EVERY)
            now = time.monotonic()
            frozen, last = now - last - WATCH_EVERY, now
            if frozen > FROZEN_AFTER:
                link.restart_liveness()
                self.stats.freezes += 1
                self._log.warning(
                    "this process did not run for %.0fs (stopped, or the machine paused): "
                    "reading what arrived meanwhile, then re-reading PxServ",
                    frozen,
                )
                self._spawn(self.revalidate())
                continue
            liveness = link.liveness()
            if liveness is not None and liveness[0] > liveness[1]:
                link.reason = f"no packet from the server for {liveness[0]:.0f}s"
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _auth(self) -> dict[str, str]:
        # A callable, so a rotated key could be picked up on the next attempt.
        return {"apiKey": self._api_key}

    def _new_link(self) -> Link:
        return new_link(self._on_payload)

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=delay)

    # -- events ---------------------------------------------------------------------------

    def _on_payload(self, kind: str, payload: Any) -> None:
        try:
            if kind == "set":
                event = parse_set_data(payload, at=self._clock())
            else:
                event = parse_remove_data(payload, at=self._clock())
        except MalformedEvent as exc:
            self.stats.malformed[exc.code] += 1
            self._malformed_warning.log("skipped a malformed %s event: %s", kind, exc.reason)
            return
        self._emit(event)

    def _emit(self, event: Event) -> None:
        self._values.saw(event.key, event.value)
        self.stats.events[(event.origin, event.kind)] += 1
        self.stats.last_event_monotonic = time.monotonic()
        self._events.on_next(event)

    def _subscriber_failed(self, event: Event, exc: Exception) -> None:
        # A subscriber's bug must not break the socket read path or other subscribers.
        self.stats.subscriber_errors += 1
        self._log.error(
            "a subscriber of PxServSource.events raised on key %r: %r", event.key, exc, exc_info=exc
        )

    async def _take_snapshot(self, disconnected: asyncio.Event) -> None:
        """Emit what changed while we were away: values that differ, keys that vanished."""
        async with self._snapshotting:
            await self._snapshot_once(disconnected)

    async def _snapshot_once(self, disconnected: asyncio.Event) -> None:
        for attempt in range(3):
            if disconnected.is_set() or self._closing.is_set():
                return
            self._values.begin()
            try:
                data = await self.fetch_all()
            except Exception as exc:  # network, HTTP status, bad JSON: all just "failed"
                self.stats.snapshot_failures += 1
                self._log.warning("snapshot (getAll) failed: %s", _describe(exc))
                self._values.abandon()
                await self._sleep(self.policy.backoff.delay(attempt))
                continue
            for event in self._values.diff(data, self._clock(), self._malformed_snapshot):
                self._emit(event)
            self.stats.snapshots += 1
            return

    def _malformed_snapshot(self, exc: MalformedEvent) -> None:
        self.stats.malformed[exc.code] += 1
        self._malformed_warning.log("skipped a malformed snapshot value: %s", exc.reason)
