"""``pxrules run``: the alerting daemon. The only module that knows source, rules and notifiers.

Lifecycle: load rules → open the state file → start delivery workers (resuming the outbox) →
connect → run until SIGTERM/SIGINT → stop taking events, let deliveries finish (grace) →
checkpoint → exit 0. SIGHUP reloads the rules file atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from reactivex.scheduler.eventloop import AsyncIOScheduler

from .. import __version__
from ..alerts import Alert
from ..engine.machine import Engine, RuleSet
from ..errors import KeyRefusedError
from ..events import Event
from ..rules.load import Config, load_file
from ..source.client import ConnectionState, PxServSource
from .delivery import Dispatcher
from .metrics import registry_for
from .notifiers import build_targets
from .notifiers.log import LogTarget
from .redaction import RedactingFormatter, secrets_of
from .signals import signal_handlers
from .store import BACKGROUND, OutboxItem, Store, StoreError

log = logging.getLogger("pxrules.daemon")

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
CHECKPOINT_CHUNK = 50  # values or tracks per checkpoint transaction


@dataclass
class RunOptions:
    rules_path: Path
    state_path: str = "pxrules-state.db"
    http: str | None = None
    dry_run: bool = False
    grace: float = 10.0
    checkpoint_interval: float = 5.0
    env: Mapping[str, str] | None = None


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT``; the host defaults to 127.0.0.1 (not all interfaces)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--http wants HOST:PORT, got {value!r}")
    return host, int(port)


class Daemon:
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
        self.config = None
        self.store: Store | None = None
        self.engine: Engine | None = None
        self.source: PxServSource | None = None
        self.dispatcher: Dispatcher | None = None
        self.http_port: int | None = None
        self._stop = asyncio.Event()
        self._pending: list[Alert] = []
        self._flush_scheduled = False
        self._events_since_checkpoint = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log_target = LogTarget()
        self._store_problem: str | None = None  # the state file could not be opened at all
        self._checkpoint_failed = False
        self._persisting: set[asyncio.Task[None]] = set()

    # -- state for health and metrics -----------------------------------------------------

    @property
    def connected(self) -> bool:
        status = self.source.current_status if self.source is not None else None
        return status is not None and status.state is ConnectionState.CONNECTED

    def outbox_depth(self) -> int:
        if self.dispatcher is None:
            return 0
        return self.dispatcher.depth

    def stop(self) -> None:
        self._stop.set()

    # -- lifecycle ------------------------------------------------------------------------

    def _load(self) -> Config | None:
        result = load_file(self.options.rules_path, env=self.options.env, strict_env=True)
        for problem in result.problems:
            log.log(
                logging.ERROR if problem.severity == "error" else logging.WARNING, "%s", problem
            )
        config = result.config
        if config is not None and not config.source.api_key:
            log.error("%s: source.api_key is not set (use ${PXSERV_API_KEY})", result.path)
            return None
        return config if result.ok else None

    def _open_store(self) -> Store:
        if self.options.dry_run:
            return Store.open(":memory:")
        try:
            return Store.open(self.options.state_path)
        except (OSError, StoreError, Exception) as exc:
            log.error(
                "cannot open the state file %s (%s): alerting goes on IN MEMORY ONLY; "
                "restarts will lose state and pending deliveries until this is fixed",
                self.options.state_path,
                exc,
            )
            store = Store.open(":memory:")
            self._store_problem = f"cannot open {self.options.state_path}: {exc}"
            return store

    async def run(self) -> int:
        config = self._load()
        if config is None:
            log.error("invalid rules file %s: not starting", self.options.rules_path)
            return EXIT_INVALID
        self.config = config
        self._install_secrets(config)
        self.store = self._open_store()
        loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self.dispatcher = self._make_dispatcher(config)
        self.dispatcher.start()
        await self._resume_outbox()
        self.engine = Engine(
            RuleSet(config),
            AsyncIOScheduler(loop),
            self._on_alert,
            state=self.store.load_engine_state(),
            id_salt=self.store.id_salt,
            track_changes=True,
        )
        assert config.source.api_key is not None
        self.source = PxServSource(
            api_key=config.source.api_key, url=config.source.url, snapshot=config.source.snapshot
        )
        self.source.events.subscribe(self._on_source_event)
        log.info(
            "pxrules %s: rules %s (%d rules), notifiers %s, state %s, source %s%s",
            __version__,
            self.options.rules_path,
            len(config.rules),
            ", ".join(["log", *config.notifiers]),
            ":memory:" if self.options.dry_run else self.options.state_path,
            config.source.url,
            " — DRY RUN: nothing is delivered" if self.options.dry_run else "",
        )
        try:
            if self.options.http:
                try:
                    await self._start_http(self.options.http)
                except OSError as exc:
                    log.error("cannot serve --http %s: %s", self.options.http, exc.strerror or exc)
                    return EXIT_USAGE
            handlers = {
                signal.SIGTERM: self.stop,
                signal.SIGINT: self.stop,
                signal.SIGHUP: lambda: self._spawn(self.reload()),
            }
            with signal_handlers(handlers):
                await self.source.start()
                code = await self._await_first_connect()
                if code != EXIT_OK:
                    return code
                self._spawn(self._checkpoints())
                await self._stop.wait()
                log.info("stopping: no more events; finishing deliveries (grace %gs)",
                         self.options.grace)  # fmt: skip
        finally:
            await self._shutdown()
        return EXIT_OK

    async def _await_first_connect(self) -> int:
        assert self.source is not None
        connected = asyncio.ensure_future(self.source.wait_connected())
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([connected, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not connected.done():
            connected.cancel()
            return EXIT_OK
        try:
            connected.result()
        except KeyRefusedError as exc:
            log.error("PxServ refused the API key: %s", exc.reason)
            return EXIT_REFUSED
        return EXIT_OK

    async def _shutdown(self) -> None:
        if self.source is not None:
            await self.source.close()
        self._flush_alerts()
        await asyncio.gather(*self._persisting, return_exceptions=True)  # outbox first
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.dispatcher is not None:
            await self.dispatcher.drain(self.options.grace)
        await self._checkpoint()
        if self.engine is not None:
            self.engine.dispose()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        if self.store is not None:
            self.store.close()
        log.info("stopped")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def config(self) -> Config | None:
        return self._config

    @config.setter
    def config(self, config: Config | None) -> None:
        self._config = config
        # Looked up for every alert: computed once per (re)load, not per flush.
        self._notify_of = {rule.name: rule.notify for rule in config.rules} if config else {}

    def _install_secrets(self, config: Config) -> None:
        if self.formatter is not None:
            self.formatter.set_secrets(secrets_of(config.source, dict(config.notifiers)))

    def _make_dispatcher(self, config: Config) -> Dispatcher:
        assert self._session is not None
        targets = build_targets(config.notifiers, config.source, self._session)
        return Dispatcher(
            targets,
            None if self.options.dry_run else self.store,
            retry_for={name: spec.retry_for for name, spec in config.notifiers.items()},
        )

    async def _resume_outbox(self) -> None:
        assert self.store is not None and self.dispatcher is not None
        pending = await self.store.run(self.store.pending)
        if pending:
            log.info("resuming %d undelivered notification(s) from the state file", len(pending))
        for item in pending:
            self.dispatcher.submit(item)

    # -- events and alerts ----------------------------------------------------------------

    def _on_source_event(self, event: Event) -> None:
        self._events_since_checkpoint += 1
        if self.on_event is not None:
            self.on_event(event)
        if self.engine is not None:
            self.engine.on_event(event)

    def _on_alert(self, alert: Alert) -> None:
        # Called inside the engine: only queue here; persist and hand over once it returns.
        self._pending.append(alert)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_alerts)

    def _flush_alerts(self) -> None:
        self._flush_scheduled = False
        alerts, self._pending = self._pending, []
        if not alerts or self.config is None or self.dispatcher is None:
            return
        now = time.time()
        notify = self._notify_of
        items: list[OutboxItem] = []
        tracks: dict[tuple[str, str], dict[str, Any]] = {}
        for alert in alerts:
            document = alert.to_document()
            if self.options.dry_run:
                self._spawn(self._log_target.send(document))
                continue
            for notifier in notify.get(alert.rule, ("log",)):
                for target in self.dispatcher.targets_of(notifier):
                    items.append(OutboxItem(alert.id, target, notifier, document, now, 0, now))
            if self.engine is not None:
                state = self.engine.track_state(alert.rule, alert.key)
                if state is not None:
                    tracks[(alert.rule, alert.key)] = state
        if items:
            task = asyncio.ensure_future(self._persist_then_deliver(items, tracks, now))
            self._persisting.add(task)
            task.add_done_callback(self._persisting.discard)

    async def _persist_then_deliver(
        self,
        items: list[OutboxItem],
        tracks: dict[tuple[str, str], dict[str, Any]],
        now: float,
    ) -> None:
        """Outbox rows and the alerts' states in one transaction, then the first attempts."""
        if self.store is not None:
            try:
                await self.store.run(
                    self.store.record_alerts,
                    [(i.id, i.target, i.notifier, i.document) for i in items],
                    [(rule, key, data) for (rule, key), data in tracks.items()],
                    now,
                )
            except StoreError as exc:
                log.error("%s; delivering from memory (a restart would lose these)", exc)
        assert self.dispatcher is not None
        for item in items:
            self.dispatcher.submit(item)

    # -- checkpoints and reload -----------------------------------------------------------

    async def _checkpoint(self, *, full: bool = False) -> None:
        """Save what changed since the last checkpoint (or everything, after a failure or a
        reload, so nothing that failed to save is forgotten)."""
        if self.store is None or self.engine is None or self.options.dry_run:
            return
        full = full or self._checkpoint_failed
        engine = self.engine
        try:
            if full:
                await self.store.run(self.store.checkpoint, engine.snapshot(), full=True)
            else:
                # Piece by piece, each piece its own background transaction: the event loop
                # never stops long to collect a large checkpoint, and an alert's outbox write
                # waits for at most the one piece being written. What changes meanwhile is
                # taken in the next checkpoint (the budget keeps this one from chasing it).
                budget = engine.pending_changes
                while budget > 0 and engine.pending_changes:
                    piece = engine.changes(limit=CHECKPOINT_CHUNK)
                    budget -= CHECKPOINT_CHUNK
                    await self.store.run(
                        self.store.checkpoint, piece, full=False, priority=BACKGROUND
                    )
            self._events_since_checkpoint = 0
            self._checkpoint_failed = False
        except asyncio.CancelledError:
            self._checkpoint_failed = True  # a piece taken may be unwritten: next one is full
            raise
        except StoreError as exc:
            self._checkpoint_failed = True
            log.error("%s; state is kept in memory and saved again later", exc)

    async def _checkpoints(self) -> None:
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(self.options.checkpoint_interval)
            if self._events_since_checkpoint or (self.store and not self.store.healthy):
                await self._checkpoint()
            if self.store is not None and time.monotonic() - last_prune > 3600:
                with contextlib.suppress(StoreError):
                    await self.store.run(self.store.prune, time.time())
                last_prune = time.monotonic()

    async def reload(self) -> bool:
        """SIGHUP: a valid file replaces the rules (state kept by rule name); else keep the old."""
        log.info("reloading %s", self.options.rules_path)
        config = self._load()
        if config is None or self.engine is None or self.config is None:
            log.error("reload failed: the rules file is invalid; the old rules stay in force")
            return False
        if config.source != self.config.source:
            log.warning("reload: changes to `source` take effect only after a restart")
        old_engine = self.engine
        snapshot = old_engine.snapshot()
        old_engine.dispose()
        self._flush_alerts()
        self.engine = Engine(
            RuleSet(config),
            old_engine.scheduler,
            self._on_alert,
            state=snapshot,
            id_salt=old_engine.id_salt,
            track_changes=True,
        )
        if config.notifiers != self.config.notifiers and self.dispatcher is not None:
            old = self.dispatcher
            self.dispatcher = self._make_dispatcher(config)
            self.dispatcher.start()
            await old.drain(0)  # what was in flight stays pending in the outbox …
            if self.store is not None and not self.options.dry_run:
                await self._resume_outbox()  # … and is picked up by the new workers
        self.config = config
        self._install_secrets(config)
        await self._checkpoint(full=True)  # drop the state of rules that are gone
        log.info("reloaded: %d rules, notifiers %s", len(config.rules),
                 ", ".join(["log", *config.notifiers]))  # fmt: skip
        return True

    # -- HTTP: /healthz and /metrics ------------------------------------------------------

    async def _start_http(self, listen: str) -> None:
        host, port = parse_listen(listen)
        registry = registry_for(lambda: self)
        app = web.Application()

        async def healthz(_request: web.Request) -> web.Response:
            return self._health_response()

        async def metrics(_request: web.Request) -> web.Response:
            body = generate_latest(registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else port
        log.info("health and metrics on http://%s:%d/healthz and /metrics", host, self.http_port)

    def health(self) -> tuple[int, dict[str, Any]]:
        status = self.source.current_status if self.source is not None else None
        rules_loaded = self.config is not None
        healthy = self.connected and rules_loaded
        state_ok = self._store_problem is None and (self.store is None or self.store.healthy)
        last = self.source.stats.last_event_monotonic if self.source is not None else None
        body: dict[str, Any] = {
            "status": ("ok" if state_ok else "degraded") if healthy else "unavailable",
            "connected": self.connected,
            "connection": status.state.value if status else "starting",
            "reason": status.reason if status else None,
            "since": status.since.isoformat() if status else None,
            "rules": len(self.config.rules) if self.config else 0,
            "outbox": self.outbox_depth(),
            "state_file": "ok" if state_ok else f"error: {self._state_error()}",
            "seconds_since_last_event": None if last is None else round(time.monotonic() - last, 3),
            "version": __version__,
        }
        return (200 if healthy else 503), body

    def _state_error(self) -> str:
        if self._store_problem is not None:
            return self._store_problem
        return (self.store.last_error or "") if self.store is not None else ""

    def _health_response(self) -> web.Response:
        code, body = self.health()
        return web.json_response(body, status=code)
