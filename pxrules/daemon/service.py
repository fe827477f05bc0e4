"""``pxrules run``: the alerting daemon, composed of parts it does not implement.

One daemon runs one or many projects (:class:`.project.ProjectRunner`, one per rules file);
it owns what they share: the state file, the HTTP server (status page, API, health,
metrics), the silences, the signals.

Lifecycle: load every rules file (a bad one is reported and skipped) → open the state file →
start each project (restore, resume its outbox, connect) → run until SIGTERM/SIGINT → stop
taking events, let deliveries finish (grace) → checkpoint → return. SIGHUP reloads each file on
its own; files added to a directory start their project, removed ones stop theirs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .. import __version__
from ..engine import Engine, Silence, SilenceBook, SilenceError
from ..errors import ExitCode
from ..events import Event
from ..rules import Config
from ..source import PxServSource
from .api import Api, json_errors
from .checkpoints import Checkpointer
from .console import Console
from .delivery import Dispatcher
from .fleet import Fleet, Lease
from .health import ServiceStatus
from .history import KeyHistory
from .http import HttpServer, parse_listen
from .loading import load_for_run, rules_files
from .metrics import Exporter, ProjectMetrics, registry_for
from .options import RunOptions
from .outbox import AlertOutbox
from .pgstore import PgStore, is_postgres, redact
from .project import ProjectRunner
from .redaction import RedactingFormatter, secrets_of
from .signals import signal_handlers
from .store import StateFileRefused, Store, StoreError

log = logging.getLogger("pxrules.daemon")

__all__ = ["Daemon", "RunOptions", "parse_listen"]

#: In a fleet, silences made on one member reach the others within this many seconds.
SILENCES_SHARED = 2.0


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
        self.projects: list[ProjectRunner] = []
        #: Rules files that did not load, with why (they run no project until they do).
        self.broken: dict[Path, str] = {}
        self.status = ServiceStatus()
        self.http = HttpServer(self.health, registry_for(self._exporters))
        self._stop = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reloading = asyncio.Lock()  # one reload at a time
        self._reload_again = False  # a SIGHUP came during a reload: one more after it
        self._reload_task: asyncio.Task[Any] | None = None
        self.silences = SilenceBook()
        self._many = False  # several rules files (or a directory): log lines name the project
        self.console = Console(self)
        self._api: Api | None = None
        #: With the state in PostgreSQL: this daemon's membership of the fleet, and the
        #: projects it can run (by name), which it starts when it takes their leases.
        self.fleet: Fleet | None = None
        self._files: dict[str, tuple[Path, Config]] = {}

    # -- the first project, for a daemon of one (and the tests that drive one) --------------

    @property
    def main(self) -> ProjectRunner | None:
        return self.projects[0] if self.projects else None

    @property
    def project(self) -> str:
        return self.main.name if self.main is not None else self.options.rules_path.stem

    @property
    def config(self) -> Config | None:
        return self.main.config if self.main is not None else None

    @property
    def engine(self) -> Engine | None:
        return self.main.engine if self.main is not None else None

    @property
    def source(self) -> PxServSource | None:
        return self.main.source if self.main is not None else None

    @property
    def dispatcher(self) -> Dispatcher | None:
        return self.main.dispatcher if self.main is not None else None

    @property
    def outbox(self) -> AlertOutbox | None:
        return self.main.outbox if self.main is not None else None

    @property
    def checkpointer(self) -> Checkpointer | None:
        return self.main.checkpointer if self.main is not None else None

    @property
    def history(self) -> KeyHistory:
        return self.main.history if self.main is not None else KeyHistory(max_keys=1)

    @property
    def store(self) -> Store | PgStore | None:
        return self.status.store

    @property
    def connected(self) -> bool:
        return bool(self.projects) and all(p.connected for p in self.projects)

    @property
    def http_port(self) -> int | None:
        return self.http.port

    def project_named(self, name: str) -> ProjectRunner | None:
        return next((p for p in self.projects if p.name == name), None)

    def stop(self) -> None:
        self._stop.set()

    # -- lifecycle ------------------------------------------------------------------------

    def _load(self, paths: list[Path]) -> tuple[list[tuple[Path, Config]], ExitCode]:
        """Every file that loads (each project once); the worst exit code of those that do
        not, which are kept in :attr:`broken` with why."""
        loaded: list[tuple[Path, Config]] = []
        worst = ExitCode.OK
        names: dict[str, Path] = {}
        for path in paths:
            problems: list[str] = []
            config = load_for_run(path, self.options, problems)
            if isinstance(config, ExitCode):
                self.broken[path] = "; ".join(problems) or "the rules file cannot be read"
                worst = max(worst, config)
                continue
            if self._taken(path, config, names):
                worst = max(worst, ExitCode.INVALID)
                continue
            names[config.project] = path
            self.broken.pop(path, None)
            loaded.append((path, config))
        return loaded, worst

    async def run(self) -> int:
        paths = rules_files(self.options.rules_paths)
        if len(paths) > 1 and self.options.source_overrides:
            log.error("--url and --api-key replace one rules file's source: give one file")
            return ExitCode.USAGE
        if not paths:
            log.error("no rules files in %s", ", ".join(map(str, self.options.rules_paths)))
            return ExitCode.USAGE
        loaded, worst = self._load(paths)
        if not loaded:
            for path in paths:
                log.error("cannot use the rules file %s: not starting", path)
            return worst
        for path in self.broken:
            log.error("%s is not used until it is fixed (SIGHUP reloads it)", path)
        if self.broken:
            self.status.reloaded(False, "; ".join(self.broken.values()))
        try:
            store = self.status.open_store(self.options.state_path, self.options.dry_run)
        except StateFileRefused as exc:
            log.error("cannot use the state file: %s", exc)
            return ExitCode.USAGE
        except StoreError as exc:  # the state database cannot be reached at the start
            log.error("cannot use the state: %s", exc)
            return ExitCode.USAGE
        if len(loaded) == 1 and store.adopt(loaded[0][1].project):
            log.info("state kept from before projects: now project %r's", loaded[0][1].project)
        self._session = aiohttp.ClientSession()
        self._load_silences(store)
        # Several files, or a directory (more may come): each project's lines start with its name.
        self._many = len(paths) > 1 or any(p.is_dir() for p in self.options.rules_paths)
        if isinstance(store, PgStore) and not self.options.dry_run:
            try:  # the rounds on a connection of their own: never behind the projects' writes
                rounds = PgStore.open(self.options.state_path)
            except StoreError as exc:
                log.error("cannot use the state: %s", exc)
                self.status.close_store()
                await self._session.close()
                return ExitCode.USAGE
            self.fleet = Fleet(
                rounds, self.options.lease_ttl, self._fleet_start, self._fleet_stop,
                lambda: list(self._files), fenced=lambda: store.fenced,
            )  # fmt: skip
            self._files = {config.project: (path, config) for path, config in loaded}
        state = self._state_shown()
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        dry = " — DRY RUN: nothing is delivered" if self.options.dry_run else ""
        if self._many:
            names = ", ".join(c.project for _, c in loaded)
            log.info("pxrules %s: %d projects (%s), state %s, loop %s%s",
                     __version__, len(loaded), names, state, loop, dry)  # fmt: skip
        else:
            path, config = loaded[0]
            log.info(
                "pxrules %s: rules %s (%d rule%s), notifiers %s, state %s, source %s, loop %s%s",
                __version__, path, len(config.rules), "" if len(config.rules) == 1 else "s",
                ", ".join(["log", *config.notifiers]), state, config.source.url, loop, dry,
            )  # fmt: skip
        if self.fleet is not None:
            log.info("fleet member %s: projects are taken by lease (TTL %gs)",
                     self.fleet.member.id, self.fleet.ttl)  # fmt: skip
        try:
            if self.fleet is None:
                for path, config in loaded:
                    await self._start_project(path, config)
            if self.options.http and (code := await self._serve_http()) != ExitCode.OK:
                return code
            if self.fleet is not None:
                return await self._run_member(self.fleet)
            handlers = {
                signal.SIGTERM: self.stop,
                signal.SIGINT: self.stop,
                signal.SIGHUP: self.request_reload,
            }
            with signal_handlers(handlers):
                codes = await asyncio.gather(*(p.first_connect(self._stop) for p in self.projects))
                refused = [p for p, c in zip(self.projects, codes, strict=True)
                           if c == ExitCode.REFUSED]  # fmt: skip
                if refused and len(refused) == len(self.projects):
                    return ExitCode.REFUSED
                for project in refused:  # the others go on; this one waits for a restart
                    await self._refused(project)
                for project in self.projects:
                    project.begin()
                await self._stop.wait()
                log.info("stopping: no more events; finishing deliveries (grace %gs)",
                         self.options.grace)  # fmt: skip
        finally:
            await self._shutdown()
        return ExitCode.OK

    async def _run_member(self, fleet: Fleet) -> int:
        """A member of a fleet: projects start and stop as their leases come and go; SIGTERM
        hands every one over at once."""
        handlers = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
            signal.SIGHUP: self.request_reload,
        }
        with signal_handlers(handlers):
            rounds = asyncio.ensure_future(fleet.run(self._stop))
            shared = self._spawn(self._share_silences())
            await self._stop.wait()
            shared.cancel()
            fleet.poke()
            await rounds
            log.info("stopping: handing over %d project(s)", len(fleet.leases))
            await fleet.leave()
        return ExitCode.OK

    async def _share_silences(self) -> None:
        """In a fleet, a silence set or expired through any member's API holds on every member
        within :data:`SILENCES_SHARED` seconds: each reads them from the database."""
        store = self.store
        assert store is not None
        while True:
            await asyncio.sleep(SILENCES_SHARED)
            try:
                documents = await store.run(store.load_silences, time.time())
            except StoreError:
                continue  # the database is down: the next time
            for document in documents:
                try:
                    silence = Silence.from_document(document)
                except SilenceError:
                    continue
                if self.silences.get(silence.id) != silence:
                    self.silences.add(silence)

    async def _fleet_start(self, name: str, lease: Lease) -> bool:
        if name not in self._files or self._stop.is_set():
            return False
        path, config = self._files[name]
        runner = await self._start_project(path, config, lease=lease)
        self._spawn(self._begin_when_connected(runner))
        return True

    async def _fleet_stop(self, lease: Lease, graceful: bool) -> None:
        runner = next((p for p in self.projects if p.lease is lease), None)
        if runner is None:
            return
        if graceful:
            await self._stop_project(runner)
        else:
            self.projects.remove(runner)
            await runner.abandon()

    async def _start_project(
        self, path: Path, config: Config, *, lease: Lease | None = None
    ) -> ProjectRunner:
        assert self._session is not None and self.store is not None
        runner = ProjectRunner(
            path, config, self.store.scoped(config.project), self.options, self._session,
            self.silences, on_event=self.on_event, on_install=self._redact,
            tag=config.project if self._many else "", lease=lease,
        )  # fmt: skip
        self.projects.append(runner)
        try:
            await runner.start()
        except BaseException:  # the state could not be read (in a fleet: the lease goes back)
            self.projects.remove(runner)
            await runner.abandon()
            raise
        if self._many:
            log.info(
                "project %s: rules %s (%d rule%s), notifiers %s, source %s",
                runner.name, path, len(config.rules), "" if len(config.rules) == 1 else "s",
                ", ".join(["log", *config.notifiers]), config.source.url,
            )  # fmt: skip
        return runner

    async def _stop_project(self, runner: ProjectRunner) -> None:
        await runner.stop()
        if runner in self.projects:
            self.projects.remove(runner)
        self._redact()

    async def _serve_http(self) -> ExitCode:
        assert self.options.http is not None
        host = parse_listen(self.options.http)[0]
        api = Api(self.console, self._reload_for_api, token=self.options.http_token, host=host)
        self.http.routes, self.http.middlewares = api.routes(), [json_errors]
        self._api = api
        try:
            port = await self.http.start(self.options.http)
        except OSError as exc:
            log.error("cannot serve --http %s: %s", self.options.http, exc.strerror or exc)
            return ExitCode.USAGE
        shown = f"[{host}]" if ":" in host else host
        log.info("serving http://%s:%d — status page /, API /api/v1, /healthz, /metrics",
                 shown, port)  # fmt: skip
        if not api.writes_open:
            log.warning(
                "--http %s is not a loopback address and no --http-token is set: "
                "the API is read-only (silences and reloads are refused)",
                self.options.http,
            )
        return ExitCode.OK

    async def _shutdown(self) -> None:
        # Every project at once: each gets the whole grace for its deliveries.
        await asyncio.gather(*(p.stop() for p in self.projects), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._api is not None:
            self._api.close()
        await self.http.close()
        if self._session is not None:
            await self._session.close()
        if self.fleet is not None:
            self.fleet.store.close()
        self.status.close_store()
        log.info("stopped")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _state_shown(self) -> str:
        """The state as the startup line names it (a database without its password)."""
        given = self.options.state_path
        if self.options.dry_run:
            return ":memory:"
        return redact(given) if is_postgres(given) else str(Path(given).resolve())

    def _redact(self) -> None:
        """The secrets of every project's rules (and the API token) never reach the log."""
        if self.formatter is None:
            return
        secrets: set[str] = set()
        for project in self.projects:
            secrets |= secrets_of(project.config.source, dict(project.config.notifiers))
        if self.options.http_token:
            secrets.add(self.options.http_token)
        if is_postgres(self.options.state_path):
            password = urlsplit(self.options.state_path).password
            if password:
                secrets.add(password)
        self.formatter.set_secrets(secrets)

    def _load_silences(self, store: Store | PgStore) -> None:
        """The silences kept in the state file (one that no longer loads is skipped)."""
        for document in store.load_silences(time.time()):
            try:
                self.silences.add(Silence.from_document(document))
            except SilenceError as exc:
                log.warning("a stored silence is skipped: %s", exc)
        if len(self.silences):
            log.info("%d silence(s) from the state file", len(self.silences))

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
        """Each rules file on its own: a valid one replaces its project's rules (state kept by
        rule name), an invalid one keeps them; a new file starts its project, a file gone
        stops its. Whether every file loaded."""
        async with self._reloading:
            ok = await self._reload()
        errors = [p.reload_error for p in self.projects if p.reload_error] + list(
            self.broken.values()
        )
        self.status.reloaded(ok, "; ".join(errors) or None)
        return ok

    async def _reload_for_api(self) -> tuple[bool, str | None]:
        """``POST /-/reload``: reload now; whether it took, and why not."""
        ok = await self.reload()
        return ok, self.status.reload_error

    async def _reload(self) -> bool:
        paths = rules_files(self.options.rules_paths)
        by_path = {p.path: p for p in self.projects}
        ok = True
        for name, (path, _) in list(self._files.items()):
            if path not in paths:
                del self._files[name]
                if self.fleet is not None:
                    log.info("%s is gone: handing project %s over", path, name)
                    await self.fleet.hand_over(name)
        for gone in list(self.projects):
            if gone.path not in paths:
                log.info("%s is gone: stopping project %s", gone.path, gone.name)
                await self._stop_project(gone)
        names = {p.name: p.path for p in self.projects}
        names |= {name: path for name, (path, _) in self._files.items()}
        for path in paths:
            runner = by_path.get(path)
            if runner is not None and runner not in self.projects:
                runner = None  # stopped above
            problems: list[str] = []
            config = load_for_run(path, self.options, problems)
            if isinstance(config, ExitCode):
                ok = False
                error = "; ".join(problems) or "the rules file cannot be read"
                if runner is not None:
                    runner.reload_failed(error)
                else:
                    self.broken[path] = error
                continue
            if self.fleet is not None and config.project in self._files:
                self._files[config.project] = (path, config)  # a takeover starts with it
            if runner is not None:
                ok = await runner.reload(config) and ok
                continue
            if self._taken(path, config, names):
                ok = False
                continue
            self.broken.pop(path, None)
            if self.fleet is not None:  # a project to take a lease of
                self._files[config.project] = (path, config)
                names[config.project] = path
                self.fleet.poke()
                continue
            started = await self._start_project(path, config)
            names[started.name] = path
            self._spawn(self._begin_when_connected(started))
        for path in list(self.broken):
            if path not in paths:
                del self.broken[path]
        return ok

    def _taken(self, path: Path, config: Config, names: dict[str, Path]) -> bool:
        """Whether another file already names this file's project (it is then broken)."""
        other = names.get(config.project)
        if other is None or other == path:
            return False
        self.broken[path] = (f"{path}: project {config.project!r} is already that of {other}: "
                             "give one of them another `project:`")  # fmt: skip
        log.error("%s", self.broken[path])
        return True

    async def _begin_when_connected(self, runner: ProjectRunner) -> None:
        if await runner.first_connect(self._stop) == ExitCode.OK:
            runner.begin()
        else:
            await self._refused(runner)

    async def _refused(self, runner: ProjectRunner) -> None:
        """PxServ refused a project's key on its first connect: it stops (the others go on)
        and stays listed as broken until its file is fixed and reloaded."""
        self.broken[runner.path] = f"PxServ refused the API key: {runner.refused}"
        if self.fleet is not None:  # another member, with the same file, would be refused too
            self._files.pop(runner.name, None)
            await self.fleet.hand_over(runner.name)
        await self._stop_project(runner)

    # -- health and metrics ---------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        fleet = self.fleet.health() if self.fleet is not None else None
        return self.status.health(self.projects, self.broken, fleet)

    def _exporters(self) -> Iterator[Exporter]:
        yield ProjectMetrics(lambda: [(p.name, list(p.exporters())) for p in self.projects])
        yield self.status
        if self.fleet is not None:
            yield self.fleet
