"""One project of a running daemon: one rules file, its PxServ connection, its engine, its
outbox, delivery workers and checkpoints. A daemon (:mod:`.service`) runs one or many.

Lifecycle: :meth:`ProjectRunner.start` (restore from the state, resume the outbox, connect)
→ :meth:`~ProjectRunner.first_connect` → :meth:`~ProjectRunner.begin` (checkpoints) → …
→ :meth:`~ProjectRunner.stop` (no more events, deliveries get the grace, last checkpoint).
:meth:`~ProjectRunner.reload` replaces its rules from its file, atomically.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from reactivex.scheduler.eventloop import AsyncIOScheduler

from ..engine import Engine, SilenceBook
from ..engine.buffers import Buffers
from ..errors import ExitCode, KeyRefusedError
from ..events import Event
from ..logtags import tagged
from ..rules import Config
from ..source import ConnectionState, PxServSource
from .checkpoints import Checkpointer
from .delivery import Dispatcher
from .fleet import Lease
from .history import KeyHistory
from .loading import load_for_run, start_engine
from .metrics import Exporter
from .notifiers import Target, build_targets
from .notifiers.log import LogTarget
from .options import RunOptions
from .outbox import AlertOutbox
from .routing import event_rules, notify_map
from .store import ProjectStore

log = logging.getLogger("pxrules.daemon")

#: After a clock jump, held timers wait at most this long for PxServ to be re-read.
REVALIDATE_TIMEOUT = 30.0


class ProjectRunner:
    """The running parts of one project (one rules file)."""

    def __init__(
        self,
        path: Path,
        config: Config,
        store: ProjectStore,
        options: RunOptions,
        session: aiohttp.ClientSession,
        silences: SilenceBook,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_install: Callable[[], None] | None = None,
        tag: str = "",
        lease: Lease | None = None,
    ) -> None:
        self.path = path
        #: In a fleet: the lease this daemon runs the project by. Its writes are fenced by it,
        #: and nothing is sent once it may have run out.
        self.lease = lease
        if lease is not None:
            store.fence = lease.fence
        self.tag = tag  # its log lines start with it (a daemon of several projects sets it)
        self._log = tagged(tag)
        self.config = config
        self.name = config.project
        self.store = store
        self.options = options
        self.silences = silences
        self.on_event = on_event
        self._on_install = on_install  # the daemon learns the new secrets to redact
        self._session = session
        self.source: PxServSource | None = None
        self.dispatcher: Dispatcher | None = None
        self.outbox: AlertOutbox | None = None
        self.checkpointer: Checkpointer | None = None
        self.history = KeyHistory(max_keys=options.max_keys)
        self._log_target = LogTarget(tag=tag)  # one across reloads: it learns the event rules
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reloading = asyncio.Lock()  # one reload at a time
        self.reload_ok = True
        self.reload_at = time.time()  # the last successful (re)load
        self.reload_error: str | None = None  # why the last reload failed
        self.refused: str | None = None  # PxServ refused its key on the first connect

    @property
    def engine(self) -> Engine | None:
        return self.outbox.engine if self.outbox is not None else None

    @property
    def connected(self) -> bool:
        status = self.source.current_status if self.source is not None else None
        return status is not None and status.state is ConnectionState.CONNECTED

    @property
    def key_origin(self) -> str:
        """Where the API key came from, for a message about a refused key."""
        return "--api-key" if self.options.api_key else f"source.api_key in {self.path}"

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the engine from the state, resume the outbox, and connect to PxServ."""
        config, store, options = self.config, self.store, self.options
        self.outbox = AlertOutbox(store, self._log_target, dry_run=options.dry_run, tag=self.tag)
        self._install(config)
        self.dispatcher = Dispatcher(
            self._build_targets(config),
            None if options.dry_run else store,
            retry_for={name: spec.retry_for for name, spec in config.notifiers.items()},
            tag=self.tag,
        )
        if self.lease is not None:
            self.dispatcher.may_send = self.lease.valid
        self.dispatcher.start()
        self.outbox.dispatcher = self.dispatcher
        pending = await self.dispatcher.resume()
        if pending:
            self._log.info("resuming %d undelivered notification(s) from the state file", pending)
        scheduler = AsyncIOScheduler(asyncio.get_running_loop())
        self.outbox.buffers = Buffers(
            config.buffered, config.time_windows, scheduler, self.outbox.on_buffered,
            project=self.name, salt=store.id_salt, event_rules=event_rules(config),
            on_change=self.outbox.on_group_change,
        )  # fmt: skip
        # Read on the store's thread: in a fleet other projects write meanwhile.
        if not options.dry_run:
            self.outbox.buffers.restore(iter(await store.run(store.load_groups)))
        state = await store.run(store.load_engine_state)
        self.outbox.engine = start_engine(
            config, scheduler, self.outbox.on_alert,
            state=state, id_salt=store.id_salt,
            max_keys=options.max_keys, on_late=self._on_clock_jump,
            silences=self.silences, project=self.name,
        )  # fmt: skip
        if not options.dry_run:
            self.checkpointer = Checkpointer(
                store, lambda: self.engine, options.checkpoint_interval
            )
        assert config.source.api_key is not None
        self.source = PxServSource(
            api_key=config.source.api_key,
            url=config.source.url,
            snapshot=config.source.snapshot,
            max_keys=options.max_keys,
            name=self.tag,
        )
        self.source.events.subscribe(self._on_source_event)
        await self.source.start()

    async def first_connect(self, stop: asyncio.Event) -> ExitCode:
        """Wait for the first connection (or ``stop``); REFUSED if PxServ refuses the key."""
        assert self.source is not None
        connected = asyncio.ensure_future(self.source.wait_connected())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([connected, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not connected.done():
            connected.cancel()
            return ExitCode.OK
        try:
            connected.result()
        except KeyRefusedError as exc:
            self.refused = exc.reason
            self._log.error("PxServ refused the API key (from %s): %s", self.key_origin, exc.reason)
            return ExitCode.REFUSED
        return ExitCode.OK

    def begin(self) -> None:
        """Connected: checkpoints start."""
        if self.checkpointer is not None:
            self._spawn(self.checkpointer.run())

    async def stop(self) -> None:
        """No more events; deliveries get the grace; the last checkpoint is written."""
        if self.source is not None:
            await self.source.close()
        if self.outbox is not None:
            self.outbox.flush()
            await self.outbox.settle()  # outbox rows first
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.dispatcher is not None:
            await self.dispatcher.drain(self.options.grace)
        if self.checkpointer is not None:
            await self.checkpointer.checkpoint()
        if self.engine is not None:
            self.engine.dispose()

    async def abandon(self) -> None:
        """The lease is gone (another daemon may own the project now): stop at once, sending
        and writing nothing more — what is pending stays in the store for the new owner."""
        if self.source is not None:
            await self.source.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.dispatcher is not None:
            await self.dispatcher.drain(0)
        if self.engine is not None:
            self.engine.dispose()

    def _on_clock_jump(self, late: float) -> None:
        """The engine's timers woke up ``late`` seconds late: the process was stopped or the
        machine paused. They are held until the events that arrived meanwhile are read and
        PxServ re-read, so `for` and `stale` are not judged on values from before the jump."""
        self._log.warning(
            "timers woke up %.0fs late (the process was stopped or the machine paused): "
            "re-reading PxServ before judging for/stale",
            late,
        )
        self._spawn(self._revalidate_then_release())

    async def _revalidate_then_release(self) -> None:
        try:
            if self.source is not None:
                await asyncio.wait_for(self.source.revalidate(), REVALIDATE_TIMEOUT)
        except TimeoutError:
            self._log.warning(
                "could not re-read PxServ within %gs: judging timers on what is known",
                REVALIDATE_TIMEOUT,
            )
        finally:
            if self.engine is not None:
                self.engine.release_timers()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _install(self, config: Config) -> None:
        """Make ``config`` the one in force: routing by its rules, redaction of its secrets."""
        self.config = config
        assert self.outbox is not None
        self.outbox.notify = notify_map(config)
        self._log_target.event_rules = event_rules(config)
        if self._on_install is not None:
            self._on_install()

    def _build_targets(self, config: Config) -> dict[str, list[Target]]:
        return build_targets(
            config.notifiers, config.source, self._session, log_target=self._log_target
        )

    def _on_source_event(self, event: Event) -> None:
        if self.checkpointer is not None:
            self.checkpointer.events_since += 1
        if self.on_event is not None:
            self.on_event(event)
        engine = self.engine
        if engine is not None:
            engine.on_event(event)
            if event.kind == "remove":
                self.history.forget(event.key)
            elif engine.watches(event.key):
                self.history.record(event.key, event.at.timestamp(), event.number)

    # -- reload ---------------------------------------------------------------------------

    async def reload(self, config: Config | None = None) -> bool:
        """Replace the rules with the file's (or ``config``, already loaded from it); state is
        kept by rule name. An invalid file keeps the old rules."""
        async with self._reloading:
            return await self._reload(config)

    def reload_failed(self, error: str) -> None:
        self.reload_ok, self.reload_error = False, error
        self._log.error("reload failed: the rules file is invalid; the old rules stay in force")

    async def _reload(self, config: Config | None) -> bool:
        self._log.info("reloading %s", self.path)
        problems: list[str] = []
        loaded = config if config is not None else load_for_run(self.path, self.options, problems)
        old_engine, old_config = self.engine, self.config
        if isinstance(loaded, ExitCode) or old_engine is None or self.outbox is None:
            self.reload_failed("; ".join(problems) or "the rules file is invalid")
            return False
        config = loaded
        if config.source != old_config.source:
            self._log.warning("reload: changes to `source` take effect only after a restart")
        if config.project != self.name:
            self._log.warning("reload: a new `project` name takes effect only after a restart")
        snapshot = old_engine.snapshot()
        old_engine.dispose()
        self.outbox.flush()
        self.outbox.engine = start_engine(
            config, old_engine.scheduler, self.outbox.on_alert,
            state=snapshot, id_salt=old_engine.id_salt, max_keys=self.options.max_keys,
            on_late=self._on_clock_jump, silences=self.silences, project=self.name,
        )  # fmt: skip
        if self.outbox.buffers is not None:  # groups of notifiers that stop grouping go now
            self.outbox.buffers.configure(config.buffered, config.time_windows, event_rules(config))
        if config.notifiers != old_config.notifiers and self.dispatcher is not None:
            # Targets kept by name keep their queues and their attempt in flight: nothing is
            # cancelled half-sent, nothing is read back from the outbox and sent again.
            self.dispatcher.reconfigure(
                self._build_targets(config),
                {name: spec.retry_for for name, spec in config.notifiers.items()},
            )
        self._install(config)
        if self.checkpointer is not None:
            await self.checkpointer.checkpoint(full=True)  # drop the state of rules that are gone
        self.reload_ok, self.reload_error, self.reload_at = True, None, time.time()
        self._log.info("reloaded: %d rules, notifiers %s", len(config.rules),
                       ", ".join(["log", *config.notifiers]))  # fmt: skip
        return True

    # -- health and metrics ---------------------------------------------------------------

    @property
    def outbox_depth(self) -> int:
        return self.dispatcher.depth if self.dispatcher is not None else 0

    def exporters(self) -> Iterator[Exporter]:
        if self.source is not None:
            yield self.source.stats
        if self.engine is not None:
            yield self.engine.stats
        if self.dispatcher is not None:
            yield self.dispatcher
