"""The service's own state: the state file it opened, the last reload, and ``/healthz``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..source import ConnectionState
from .lock import StateLock
from .pgstore import PgStore, is_postgres
from .store import StateFileRefused, Store

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .project import ProjectRunner

log = logging.getLogger("pxrules.daemon")


class ServiceStatus:
    """Owns the store the daemon runs on, knows whether it and the last reload are healthy."""

    def __init__(self) -> None:
        self.store: Store | PgStore | None = None
        self.store_problem: str | None = None  # the state file could not be opened at all
        self.reload_ok = True
        self.reload_at = time.time()  # the last successful (re)load
        self.reload_error: str | None = None  # why the last reload failed
        self._lock: StateLock | None = None  # held while the state file is ours

    def open_store(self, path: str, dry_run: bool) -> Store | PgStore:
        """The state file, or an in-memory one (dry run, or the file cannot be opened)."""
        if dry_run or path in ("none", ":memory:"):
            if not dry_run:
                log.warning(
                    "--state %s: state is kept in memory only; a restart loses alert states, "
                    "timers and pending deliveries",
                    path,
                )
            self.store = Store.open(":memory:")
            return self.store
        if is_postgres(path):
            # Unreachable at the start: exit (a supervisor retries); once running, alerting
            # goes on from memory while the database is away (see pgstore).
            self.store = PgStore.open(path)  # StateFileRefused, StoreError
            return self.store
        Store.refuse(path)  # before the lock: a path that is not ours gets no lock file beside it
        lock = StateLock(path)
        lock.acquire()  # StateFileRefused: another daemon holds it
        self._lock = lock
        try:
            self.store = Store.open(path)
        except StateFileRefused:
            lock.release()
            raise
        except Exception as exc:  # whatever else, alerting goes on in memory
            why = _explained(exc, path)
            log.error(
                "cannot open the state file %s (%s): alerting goes on IN MEMORY ONLY; "
                "restarts will lose state and pending deliveries until this is fixed",
                path,
                why,
            )
            self.store = Store.open(":memory:")
            self.store_problem = f"cannot open {path}: {why}"
        return self.store

    def close_store(self) -> None:
        if self.store is not None:
            self.store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def reloaded(self, ok: bool, error: str | None = None) -> None:
        self.reload_ok = ok
        self.reload_error = None if ok else error
        if ok:
            self.reload_at = time.time()

    @property
    def state_file_ok(self) -> bool:
        if self.store_problem is not None:
            return False
        return self.store is None or (self.store.healthy and self.store.file_problem is None)

    def state_error(self) -> str:
        if self.store_problem is not None:
            return self.store_problem
        if self.store is None:
            return ""
        return self.store.file_problem or self.store.last_error or ""

    def health(
        self,
        projects: Sequence[ProjectRunner],
        broken: Mapping[Path, str] | None = None,
        fleet: Mapping[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """``/healthz``: 200 when every project is connected with its rules loaded, else 503;
        the details in JSON, each project's under ``projects``. A member of a fleet
        (``fleet``: its mode and leases) is healthy with no project too (the others hold them),
        unless the database stopped answering it."""
        rows = [_project_health(p) for p in projects]
        healthy = (bool(rows) or fleet is not None) and all(r["connected"] for r in rows)
        if fleet is not None and fleet["mode"] == "cut-off":
            healthy = False
        state_ok = self.state_file_ok and (fleet is None or fleet["mode"] == "member")
        waiting = next((r for r in rows if not r["connected"]), rows[0] if rows else None)
        lasts = [r["seconds_since_last_event"] for r in rows
                 if r["seconds_since_last_event"] is not None]  # fmt: skip
        fine = state_ok and not broken
        body: dict[str, Any] = {
            "status": ("ok" if fine else "degraded") if healthy else "unavailable",
            "connected": healthy,
            "connection": waiting["connection"] if waiting else "starting",
            "reason": waiting["reason"] if waiting else None,
            "since": waiting["since"] if waiting else None,
            "rules": sum(r["rules"] for r in rows),
            "last_reload_successful": self.reload_ok,
            "outbox": sum(r["outbox"] for r in rows),
            "state_file": "ok" if state_ok else f"error: {self.state_error()}",
            "seconds_since_last_event": min(lasts) if lasts else None,
            "version": __version__,
            "projects": rows,
        }
        if fleet is not None:
            body["fleet"] = dict(fleet)
        if broken:
            body["broken"] = {str(path): why for path, why in broken.items()}
        return (200 if healthy else 503), body

    def metrics(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "pxrules_state_file_ok",
            "1 while the state file can be written",
            int(self.state_file_ok),
        )
        yield GaugeMetricFamily(
            "pxrules_config_last_reload_successful",
            "1 when the last load or reload of the rules file succeeded",
            int(self.reload_ok),
        )
        yield GaugeMetricFamily(
            "pxrules_config_last_reload_success_timestamp_seconds",
            "When the rules file was last loaded or reloaded successfully",
            self.reload_at,
        )


def _explained(exc: Exception, path: str) -> str:
    """SQLite says "unable to open database file" for a read-only file system: say so."""
    try:
        folder = os.path.dirname(os.path.abspath(path))
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{exc} (read-only file system)"
    except OSError:
        pass
    return str(exc)


def _project_health(project: ProjectRunner) -> dict[str, Any]:
    source = project.source
    status = source.current_status if source is not None else None
    last = source.stats.last_event_monotonic if source is not None else None
    return {
        "project": project.name,
        "file": str(project.path),
        "connected": status is not None and status.state is ConnectionState.CONNECTED,
        "connection": status.state.value if status else "starting",
        "reason": status.reason if status else None,
        "since": status.since.isoformat() if status else None,
        "rules": len(project.config.rules),
        "outbox": project.outbox_depth,
        "last_reload_successful": project.reload_ok,
        "seconds_since_last_event": None if last is None else round(time.monotonic() - last, 3),
    }
