"""The service's own state: the state file it opened, the last reload, and ``/healthz``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..source import ConnectionState, PxServSource
from .lock import StateLock
from .store import StateFileRefused, Store

if TYPE_CHECKING:
    from prometheus_client.core import Metric

log = logging.getLogger("pxrules.daemon")


class ServiceStatus:
    """Owns the store the daemon runs on, knows whether it and the last reload are healthy."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.store_problem: str | None = None  # the state file could not be opened at all
        self.reload_ok = True
        self.reload_at = time.time()  # the last successful (re)load
        self.reload_error: str | None = None  # why the last reload failed
        self._lock: StateLock | None = None  # held while the state file is ours

    def open_store(self, path: str, dry_run: bool) -> Store:
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
        self, source: PxServSource | None, rules: int | None, outbox: int
    ) -> tuple[int, dict[str, Any]]:
        """``/healthz``: 200 when connected with rules loaded, else 503; the details in JSON."""
        status = source.current_status if source is not None else None
        connected = status is not None and status.state is ConnectionState.CONNECTED
        healthy = connected and rules is not None
        state_ok = self.state_file_ok
        last = source.stats.last_event_monotonic if source is not None else None
        body: dict[str, Any] = {
            "status": ("ok" if state_ok else "degraded") if healthy else "unavailable",
            "connected": connected,
            "connection": status.state.value if status else "starting",
            "reason": status.reason if status else None,
            "since": status.since.isoformat() if status else None,
            "rules": rules or 0,
            "last_reload_successful": self.reload_ok,
            "outbox": outbox,
            "state_file": "ok" if state_ok else f"error: {self.state_error()}",
            "seconds_since_last_event": None if last is None else round(time.monotonic() - last, 3),
            "version": __version__,
        }
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
