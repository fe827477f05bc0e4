"""``pxrules run``: the alerting daemon, composed of parts it does not implement.

Lifecycle: load rules → open the state file → start delivery workers (resuming the outbox) →
connect → run until SIGTERM/SIGINT → stop taking events, let deliveries finish (grace) →
checkpoint → return. SIGHUP reloads the rules file atomically.

The parts: :class:`~pxrules.source.PxServSource` (events), :class:`~pxrules.engine.Engine`
(alerts), :class:`.outbox.AlertOutbox` (alerts → outbox → delivery), :class:`.delivery.Dispatcher`
(targets and retries), :class:`.store.Store` and :class:`.checkpoints.Checkpointer` (durable
state), :class:`.http.HttpServer` (health, metrics).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .. import __version__
from ..engine import Engine, Silence, SilenceBook, SilenceError
from ..engine.buffers import Buffers
from ..errors import ExitCode, KeyRefusedError
from ..events import Event
from ..rules import Config
from ..source import ConnectionState, PxServSource
from .api import Api, json_errors
from .checkpoints import Checkpointer
from .console import Console
from .delivery import Dispatcher
from .health import ServiceStatus
from .history import KeyHistory
from .http import HttpServer, parse_listen
from .loading import load_for_run, start_engine
from .metrics import Exporter, registry_for
from .notifiers import Target, build_targets
from .notifiers.log import LogTarget
from .options import RunOptions
from .outbox import AlertOutbox
from .redaction import RedactingFormatter, secrets_of
from .routing import event_rules, notify_map
from .signals import signal_handlers
from .store import StateFileRefused, Store

log = logging.getLogger("pxrules.daemon")

#: After a clock jump, held timers wait at most this long for PxServ to be re-read.
REVALIDATE_TIMEOUT = 30.0

__all__ = ["Daemon", "RunOptions", "parse_listen"]


class Daemon:
    """One ``pxrules run``: :meth:`run` returns the exit code."""

    def __init__(
        self,
        options: RunOptions,
        *,
        formatter: RedactingFormatter | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.options = options
        self.formatter = formatter
        self.on_event = on_event
        self.config: Config | None = None
        self.source: PxServSource | None = None
        self.dispatcher: Dispatcher | None = None
        self.outbox: AlertOutbox | None = None
        self.checkpointer: Checkpointer | None = None
        self.status = ServiceStatus()
        self.http = HttpServer(self.health, registry_for(self._exporters))
        self._stop = asyncio.Event()
        self._log_target = LogTarget()  # one across reloads: it learns the event rules
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reloading = asyncio.Lock()  # one reload at a time
        self._reload_again = False  # a SIGHUP came during a reload: one more after it
        self._reload_task: asyncio.Task[Any] | None = None
        self.project = options.rules_path.stem
        self.silences = SilenceBook()
        self.history = KeyHistory(max_keys=options.max_keys)
        self.console = Console(self)
        self._api: Api | None = None

    @property
    def engine(self) -> Engine | None:
        return self.outbox.engine if self.outbox is not None else None

    @property
    def store(self) -> Store | None:
        return self.status.store

    @property
    def connected(self) -> bool:
        status = self.source.current_status if self.source is not None else None
        return status is not None and status.state is ConnectionState.CONNECTED

    @property
    def http_port(self) -> int | None:
        return self.http.port

    def stop(self) -> None:
        self._stop.set()

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> int:
        config = load_for_run(self.options)
        if isinstance(config, ExitCode):
            log.error("cannot use the rules file %s: not starting", self.options.rules_path)
            return config
        self.project = config.project
        try:
            store = self.status.open_store(self.options.state_path, self.options.dry_run)
        except StateFileRefused as exc:
            log.error("cannot use the state file: %s", exc)
            return ExitCode.USAGE
        self._session = aiohttp.ClientSession()
        self._load_silences(store)
        self.outbox = AlertOutbox(store, self._log_target, dry_run=self.options.dry_run)
        self._install(config)
        self.dispatcher = self._start_dispatcher(config)
        await self._resume_outbox()
        scheduler = AsyncIOScheduler(asyncio.get_running_loop())
        self.outbox.buffers = Buffers(
            config.buffered, config.time_windows, scheduler, self.outbox.on_buffered,
            project=self.project, salt=store.id_salt, event_rules=event_rules(config),
            on_change=self.outbox.on_group_change,
        )  # fmt: skip
        if not self.options.dry_run:
            self.outbox.buffers.restore(iter(store.load_groups()))
        self.outbox.engine = start_engine(
            config, scheduler, self.outbox.on_alert,
            state=store.load_engine_state(), id_salt=store.id_salt,
            max_keys=self.options.max_keys, on_late=self._on_clock_jump,
            silences=self.silences, project=self.project,
        )  # fmt: skip
        if not self.options.dry_run:
            self.checkpointer = Checkpointer(
                store, lambda: self.engine, self.options.checkpoint_interval
            )
        assert config.source.api_key is not None
        self.source = PxServSource(
            api_key=config.source.api_key,
            url=config.source.url,
            snapshot=config.source.snapshot,
            max_keys=self.options.max_keys,
        )
        self.source.events.subscribe(self._on_source_event)
        log.info(
            "pxrules %s: rules %s (%d rule%s), notifiers %s, state %s, source %s, loop %s%s",
            __version__,
            self.options.rules_path,
            len(config.rules),
            "" if len(config.rules) == 1 else "s",
            ", ".join(["log", *config.notifiers]),
            ":memory:" if self.options.dry_run else Path(self.options.state_path).resolve(),
            config.source.url,
            type(asyncio.get_running_loop()).__module__.split(".")[0],
            " — DRY RUN: nothing is delivered" if self.options.dry_run else "",
        )
        try:
            if self.options.http:
                host = parse_listen(self.options.http)[0]
                api = Api(self.console, self._reload_for_api, token=self.options.http_token,
                          host=host)  # fmt: skip
                self.http.routes, self.http.middlewares = api.routes(), [json_errors]
                self._api = api
                try:
                    port = await self.http.start(self.options.http)
                except OSError as exc:
                    log.error("cannot serve --http %s: %s", self.options.http, exc.strerror or exc)
                    return ExitCode.USAGE
                shown = f"[{host}]" if ":" in host else host
                log.info(
                    "serving http://%s:%d — status page /, API /api/v1, /healthz, /metrics",
                    shown, port,
                )  # fmt: skip
                if not api.writes_open:
                    log.warning(
                        "--http %s is not a loopback address and no --http-token is set: "
                        "the API is read-only (silences and reloads are refused)",
                        self.options.http,
                    )
            handlers = {
                signal.SIGTERM: self.stop,
                signal.SIGINT: self.stop,
                signal.SIGHUP: self.request_reload,
            }
            with signal_handlers(handlers):
                await self.source.start()
                code = await self._await_first_connect()
                if code != ExitCode.OK:
                    return code
                if self.checkpointer is not None:
                    self._spawn(self.checkpointer.run())
                await self._stop.wait()
                log.info("stopping: no more events; finishing deliveries (grace %gs)",
                         self.options.grace)  # fmt: skip
        finally:
            await self._shutdown()
        return ExitCode.OK

    async def _await_first_connect(self) -> ExitCode:
        assert self.source is not None
        connected = asyncio.ensure_future(self.source.wait_connected())
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([connected, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not connected.done():
            connected.cancel()
            return ExitCode.OK
        try:
            connected.result()
        except KeyRefusedError as exc:
            log.error(
                "PxServ refused the API key (from %s): %s", self.options.key_origin, exc.reason
            )
            return ExitCode.REFUSED
        return ExitCode.OK

    async def _shutdown(self) -> None:
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
        if self._api is not None:
            self._api.close()
        await self.http.close()
        if self._session is not None:
            await self._session.close()
        self.status.close_store()
        log.info("stopped")

    def _on_clock_jump(self, late: float) -> None:
        """The engine's timers woke up ``late`` seconds late: the process was stopped or the
        machine paused. They are held until the events that arrived meanwhile are read and
        PxServ re-read, so `for` and `stale` are not judged on values from before the jump."""
        log.warning(
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
            log.warning(
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
        if self.formatter is not None:
            secrets = secrets_of(config.source, dict(config.notifiers))
            if self.options.http_token:
                secrets.add(self.options.http_token)
            self.formatter.set_secrets(secrets)

    def _start_dispatcher(self, config: Config) -> Dispatcher:
        assert self._session is not None and self.outbox is not None
        dispatcher = Dispatcher(
            self._build_targets(config),
            None if self.options.dry_run else self.status.store,
            retry_for={name: spec.retry_for for name, spec in config.notifiers.items()},
        )
        dispatcher.start()
        self.outbox.dispatcher = dispatcher
        return dispatcher

    def _build_targets(self, config: Config) -> dict[str, list[Target]]:
        assert self._session is not None
        return build_targets(
            config.notifiers, config.source, self._session, log_target=self._log_target
        )

    async def _resume_outbox(self) -> None:
        assert self.dispatcher is not None
        pending = await self.dispatcher.resume()
        if pending:
            log.info("resuming %d undelivered notification(s) from the state file", pending)

    def _load_silences(self, store: Store) -> None:
        """The silences kept in the state file (one that no longer loads is skipped)."""
        for document in store.load_silences(time.time()):
            try:
                self.silences.add(Silence.from_document(document))
            except SilenceError as exc:
                log.warning("a stored silence is skipped: %s", exc)
        if len(self.silences):
            log.info("%d silence(s) from the state file", len(self.silences))

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

    def request_reload(self) -> None:
        """SIGHUP: reload now, or once more after the reload in progress (a burst of signals
        is one or two reloads, never reloads running side by side)."""
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = self._spawn(self._reload_while_asked())

    async def _reload_while_asked(self) -> None:
        again = True
        while again:
            self._reload_again = False
            await self.reload()
            again = self._reload_again

    async def reload(self) -> bool:
        """A valid file replaces the rules (state kept by rule name); else the old stay."""
        async with self._reloading:
            return await self._reload()

    async def _reload_for_api(self) -> tuple[bool, str | None]:
        """``POST /-/reload``: reload now; whether it took, and why not."""
        ok = await self.reload()
        return ok, self.status.reload_error

    async def _reload(self) -> bool:
        log.info("reloading %s", self.options.rules_path)
        problems: list[str] = []
        config = load_for_run(self.options, problems)
        old_engine, old_config = self.engine, self.config
        if (
            isinstance(config, ExitCode)
            or old_engine is None
            or old_config is None
            or self.outbox is None
        ):
            self.status.reloaded(False, "; ".join(problems) or "the rules file is invalid")
            log.error("reload failed: the rules file is invalid; the old rules stay in force")
            return False
        if config.source != old_config.source:
            log.warning("reload: changes to `source` take effect only after a restart")
        if config.project != self.project:
            log.warning("reload: a new `project` name takes effect only after a restart")
        snapshot = old_engine.snapshot()
        old_engine.dispose()
        self.outbox.flush()
        self.outbox.engine = start_engine(
            config, old_engine.scheduler, self.outbox.on_alert,
            state=snapshot, id_salt=old_engine.id_salt, max_keys=self.options.max_keys,
            on_late=self._on_clock_jump, silences=self.silences, project=self.project,
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
        self.status.reloaded(True)
        log.info("reloaded: %d rules, notifiers %s", len(config.rules),
                 ", ".join(["log", *config.notifiers]))  # fmt: skip
        return True

    # -- health and metrics ---------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        depth = self.dispatcher.depth if self.dispatcher is not None else 0
        rules = len(self.config.rules) if self.config is not None else None
        return self.status.health(self.source, rules, depth)

    def _exporters(self) -> Iterator[Exporter]:
        if self.source is not None:
            yield self.source.stats
        if self.engine is not None:
            yield self.engine.stats
        if self.dispatcher is not None:
            yield self.dispatcher
        yield self.status
