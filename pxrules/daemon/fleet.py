"""The fleet: many daemons on one PostgreSQL database share the projects, each project owned by
exactly one live daemon at a time.

Each daemon is a *member* (a row with a heartbeat). Each project has a *lease* row: its owner,
an expiry on the database's clock and an **epoch**, raised by every takeover, which fences
every write of the project's state (:class:`~.pgstore.Fence`). Every round (TTL/3, at most a
second apart) a member, in one transaction (:meth:`~.pgstore.PgStore.fleet_tick`), beats,
renews its leases and takes free or expired ones up to its fair share — or hands over what it
holds beyond it.

A member stops a project by its own monotonic clock the moment its lease may have expired
(renewal sent + TTL, less a margin), before the database lets anyone else take it. What it
does when the database cannot be reached depends on how:

- **the database is down** (the server says it is stopping or starting, or nothing listens:
  the connection is refused): it is down for everyone, so nobody can take a lease meanwhile.
  The member *fails open*: it keeps evaluating and delivering from memory, and renews (same
  epoch) when the database is back — a restarted server lets owners renew for one TTL before
  anyone may take an expired lease;
- **anything else** (no answer at all — a partition, a blackhole —, a timeout, too many
  connections): the database may be up for the others, who take the leases once they expire.
  The member steps down when its leases may have expired: nothing more is delivered or written
  for those projects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__
from .store import StoreError

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .pgstore import Fence, PgStore

log = logging.getLogger("pxrules.fleet")

#: Lease time-to-live by default (seconds); ``--lease-ttl`` / ``$PXRULES_LEASE_TTL``.
DEFAULT_TTL = 15.0
#: A round at least this often (seconds): renewals every TTL/3, free leases taken within it.
MAX_ROUND = 1.0


_DOWN = ("the state database is down (%s): alerting goes on from memory (fail open); the "
         "leases are renewed when it is back")  # fmt: skip
_NO_ANSWER = ("the state database cannot be reached (%s): the leases run out and their projects "
              "stop unless it answers first")  # fmt: skip


@dataclass
class Lease:
    """One project held by this member: its fence and, by the monotonic clock, until when it
    is surely still ours."""

    project: str
    fence: Fence
    deadline: float
    fleet: Fleet
    lost: bool = False
    releasing: bool = False  # being handed over: still renewed until released

    def valid(self) -> bool:
        """Whether this member may still deliver and write for the project."""
        if self.lost:
            return False
        return self.fleet.fail_open or time.monotonic() < self.deadline


@dataclass
class FleetStats:
    takeovers: int = 0  # acquired from a member whose lease had expired
    lost: int = 0  # leases this member stepped down from or found taken


#: Starts a project under a lease (False: it could not, the lease is handed back).
StartProject = Callable[[str, Lease], Awaitable[bool]]
#: Stops a project: ``graceful`` lets deliveries finish and checkpoints; else it is abandoned
#: (the lease is gone: nothing more is written or sent).
StopProject = Callable[[Lease, bool], Awaitable[None]]


@dataclass
class Fleet:
    """This daemon's membership: :meth:`run` until :meth:`leave`."""

    store: PgStore  # a connection of its own: a round never waits behind the projects' writes
    ttl: float
    start_project: StartProject
    stop_project: StopProject
    loaded: Callable[[], list[str]]  # the projects this daemon can run (its rules files)
    fenced: Callable[[], int] = lambda: 0  # the projects' writes refused so far
    member: Any = None
    leases: dict[str, Lease] = field(default_factory=dict)
    fail_open: bool = False
    cut_off: bool = False  # the database does not answer: leases run out, then step down
    last_renewal: float | None = None  # monotonic
    stats: FleetStats = field(default_factory=FleetStats)
    members: int = 0
    projects: int = 0
    _round: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _starting: dict[str, asyncio.Task[Any]] = field(default_factory=dict)  # by project

    def __post_init__(self) -> None:
        from .pgstore import Member

        if self.member is None:
            host = socket.gethostname()
            ident = f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            self.member = Member(ident, host, os.getpid(), __version__)

    @property
    def period(self) -> float:
        return min(self.ttl / 3, MAX_ROUND)

    @property
    def margin(self) -> float:
        """Stop this long before the lease's expiry: clocks run at slightly different rates."""
        return min(1.0, self.ttl / 10)

    @property
    def mode(self) -> str:
        if self.fail_open:
            return "fail-open"
        if self.cut_off:
            return "cut-off"
        return "member"

    def held(self) -> list[str]:
        return sorted(self.leases)

    def poke(self) -> None:
        """Run a round now (a rules file was added or removed)."""
        self._round.set()

    async def run(self, stop: asyncio.Event) -> None:
        watch = asyncio.ensure_future(self._watch())
        try:
            while not stop.is_set():
                await self.round()
                self._round.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._round.wait(), self.period)
        finally:
            watch.cancel()

    async def _watch(self) -> None:
        """Stop a project the moment its lease may have run out — not at the end of a round
        that hangs on a silent database."""
        while True:
            deadlines = [lease.deadline for lease in self.leases.values()]
            wait = min(deadlines, default=time.monotonic() + self.period) - time.monotonic()
            nap = min(max(wait, 0.0) + 0.001, self.period)
            woke = time.monotonic() + nap
            await asyncio.sleep(nap)
            late = time.monotonic() - woke
            if late > self.margin:  # the process was stopped, or its loop blocked
                log.warning("the fleet's lease watcher woke %.1fs late: leases may be lost", late)
            try:
                await self._expire()
            except Exception:  # the watcher must outlive a bug in stopping one project
                log.exception("stopping the projects of expired leases failed")

    async def round(self) -> None:
        sent = time.monotonic()
        held = {p: lease.fence.epoch for p, lease in self.leases.items()}
        try:
            tick = await self.store.run(
                self.store.fleet_tick, self.member, self.ttl, self.loaded(), held
            )
        except StoreError as exc:
            self._unreachable(exc)
            await self._expire()
            return
        if self.fail_open or self.cut_off:
            log.info("the state database answers again: %d lease(s) renewed", len(tick.renewed))
        self.fail_open = self.cut_off = False
        self.last_renewal = sent
        self.members, self.projects = tick.members, tick.projects
        for project, lease in list(self.leases.items()):
            if project in tick.renewed:
                lease.deadline = sent + self.ttl - self.margin
            elif project in held:  # taken by another member while we could not renew
                log.warning("project %s: the lease is another daemon's now: stopping it", project)
                self._drop(project)
        for project, epoch, previous in tick.acquired:
            self._acquired(project, epoch, previous, sent)
        keeping = [p for p, lease in self.leases.items() if not lease.releasing]
        for project in sorted(keeping)[len(keeping) - tick.excess :] if tick.excess else ():
            self._spawn(self.hand_over(project))
        await self._expire()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unreachable(self, exc: StoreError) -> None:
        down = self.store.down
        log.debug("round failed (%s): %s", "down" if down else "no answer", exc)
        if (self.fail_open, self.cut_off) != (down, not down):  # the mode changes: say so once
            log.error(_DOWN if down else _NO_ANSWER, exc)
        self.fail_open, self.cut_off = down, not down

    def _acquired(self, project: str, epoch: int, previous: str | None, sent: float) -> None:
        from .pgstore import Fence

        fence = Fence(self.member.id, epoch)
        lease = Lease(project, fence, sent + self.ttl - self.margin, self)
        self.leases[project] = lease
        if previous is not None and previous != self.member.id:
            self.stats.takeovers += 1
            log.warning("project %s: taken over from %s (its lease expired), epoch %d",
                        project, previous, epoch)  # fmt: skip
        else:
            log.info("project %s: lease taken, epoch %d", project, epoch)
        self._starting[project] = asyncio.ensure_future(self._start(lease))
        self._tasks.add(self._starting[project])
        self._starting[project].add_done_callback(self._tasks.discard)

    async def _start(self, lease: Lease) -> None:
        if lease.lost:  # lost before its turn came
            return
        try:
            started = await self.start_project(lease.project, lease)
        except Exception:
            log.exception("project %s could not start: handing its lease back", lease.project)
            started = False
        finally:
            if self._starting.get(lease.project) is asyncio.current_task():
                del self._starting[lease.project]
        if not started and self.leases.get(lease.project) is lease:
            del self.leases[lease.project]
            with contextlib.suppress(StoreError):
                await self.store.run(self.store.release, lease.project, lease.fence)

    async def _expire(self) -> None:
        """Stop every project whose lease may have run out (by our own clock)."""
        for project, lease in list(self.leases.items()):
            if not lease.valid():
                log.error(
                    "project %s: its lease may have expired (no renewal for %.1fs): "
                    "stopping it; another daemon takes it over",
                    project,
                    self.ttl,
                )
                self._drop(project)

    def _drop(self, project: str) -> None:
        """The lease is gone: the project stops at once, writing and sending nothing more."""
        lease = self.leases.pop(project, None)
        if lease is None:
            return
        lease.lost = True
        self.stats.lost += 1
        self._spawn(self._abandon(lease))

    async def _abandon(self, lease: Lease) -> None:
        starting = self._starting.get(lease.project)
        if starting is not None:  # a project half started is stopped once it has started
            await asyncio.gather(starting, return_exceptions=True)
        await self.stop_project(lease, False)

    async def hand_over(self, project: str) -> None:
        """Stop the project (deliveries finish, last checkpoint), then release its lease; it
        is renewed meanwhile."""
        lease = self.leases.get(project)
        if lease is None or lease.releasing:
            return
        lease.releasing = True
        starting = self._starting.get(project)
        if starting is not None:  # stopped once it has started
            await asyncio.gather(starting, return_exceptions=True)
        await self.stop_project(lease, True)
        if self.leases.get(project) is not lease:  # lost meanwhile
            return
        del self.leases[project]
        try:
            if await self.store.run(self.store.release, project, lease.fence):
                log.info("project %s: handed over (epoch %d)", project, lease.fence.epoch)
        except StoreError as exc:
            log.warning("project %s: the lease could not be released (%s): it expires in "
                        "%gs", project, exc, self.ttl)  # fmt: skip

    async def leave(self) -> None:
        """SIGTERM: every project stops and its lease is released at once, so the others take
        them over within a round; then this member's row goes. (Call once :meth:`run` has
        returned.)"""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await asyncio.gather(*(self.hand_over(p) for p in self.held()))
        with contextlib.suppress(StoreError):
            await self.store.run(self.store.leave, self.member.id)

    # -- health and metrics ---------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        since = None if self.last_renewal is None else time.monotonic() - self.last_renewal
        return {
            "member": self.member.id,
            "mode": self.mode,
            "lease_ttl": self.ttl,
            "leases": self.held(),
            "members": self.members,
            "projects": self.projects,
            "seconds_since_renewal": None if since is None else round(since, 3),
        }

    def metrics(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily(
            "pxrules_fleet_leases_held", "Project leases this daemon holds", len(self.leases)
        )
        yield CounterMetricFamily(
            "pxrules_fleet_takeovers",
            "Projects taken over from a daemon whose lease expired",
            self.stats.takeovers,
        )
        yield CounterMetricFamily(
            "pxrules_fleet_fenced_writes",
            "Writes refused because this daemon's lease of the project was gone",
            self.fenced(),
        )
        yield CounterMetricFamily(
            "pxrules_fleet_leases_lost",
            "Leases this daemon stepped down from or found taken",
            self.stats.lost,
        )
        since = -1.0 if self.last_renewal is None else time.monotonic() - self.last_renewal
        yield GaugeMetricFamily(
            "pxrules_fleet_seconds_since_renewal",
            "Seconds since this daemon last renewed its leases (-1: never)",
            since,
        )
        yield GaugeMetricFamily(
            "pxrules_fleet_fail_open",
            "1 while the state database is down and alerting goes on from memory",
            1.0 if self.fail_open else 0.0,
        )
