"""Durable state in PostgreSQL (``--state postgresql://…``): the same tables, the same
guarantees and the same methods as the SQLite :class:`~pxrules.daemon.store.Store`.

An alert's outbox rows and its track are committed in one transaction before the first
attempt; checkpoints, the delivery log, silences and groups are as in SQLite. The schema is
created and upgraded by pxrules (``meta.schema``). One daemon per database: a session advisory
lock is held while it runs, and a second daemon exits 2 naming the first (its host and PID).

The database going away does not stop alerting: every write then raises
:class:`~pxrules.daemon.store.StoreError` (the daemon goes on from memory, as with a full disk)
and the next write reconnects; the lock is taken again first, so a daemon never writes beside
another one that took over meanwhile.

psycopg 3 is needed (``pip install 'pxrules[postgresql]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ..engine.state import document, dump_row, load_row
from .store import (
    DELIVERED_KEEP_SECONDS,
    DELIVERY_LOG_ROWS,
    SILENCES_KEEP_SECONDS,
    URGENT,
    AttemptRecord,
    Batch,
    GroupRow,
    OutboxItem,
    OutboxRow,
    ProjectStore,
    StateFileRefused,
    StoreError,
    TrackRow,
    _Writer,
    delivery_row,
)

log = logging.getLogger("pxrules.store")
T = TypeVar("T")

SCHEMA_VERSION = 1
#: A database that stops answering (a network cut, a dead server behind a NAT) fails a write
#: within this many seconds instead of hanging the store's thread — and the first attempts of
#: the alerts waiting on it — for TCP's own minutes: a watchdog shuts the connection's socket
#: down when one transaction has run this long (the next write reconnects), and the connect
#: timeout and TCP keepalives bound the rest.
IO_TIMEOUT = 10.0


def _connect_options(timeout: float) -> dict[str, int]:
    return {
        "connect_timeout": max(1, int(timeout)),
        "keepalives": 1,
        "keepalives_idle": max(1, int(timeout)),
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }


class _Watchdog:
    """Shuts down the socket of a connection whose transaction has run past its deadline:
    the call blocked on it fails at once (a dead peer never answers; TCP would wait minutes)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = 0
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._fileno = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pxrules-pg-watchdog", daemon=True)
        self._thread.start()

    def arm(self, fileno: int) -> None:
        with self._lock:
            self._deadline, self._fileno = time.monotonic() + self.timeout, fileno

    def disarm(self) -> None:
        with self._lock:
            self._deadline = None

    def _loop(self) -> None:
        while not self._stop.wait(min(0.5, self.timeout / 4)):
            with self._lock:
                late = self._deadline is not None and time.monotonic() > self._deadline
                if late:
                    self._deadline = None
                    self.fired += 1
                    # On a duplicate of the descriptor: shutting down acts on the socket
                    # itself, and closing the duplicate leaves psycopg's own open.
                    with (
                        contextlib.suppress(OSError),
                        socket.socket(fileno=os.dup(self._fileno)) as sock,
                    ):
                        sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


#: The advisory lock one daemon holds on a database (a number of its own: "pxrules").
LOCK_KEY = 0x70787275_6C6573

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pxrules_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pxrules_values (
    project TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (project, key));
CREATE TABLE IF NOT EXISTS pxrules_tracks (
    project TEXT NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (project, rule, key));
CREATE TABLE IF NOT EXISTS pxrules_outbox (
    seq BIGSERIAL,
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    notifier TEXT NOT NULL,
    document TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (project, id, target));
CREATE INDEX IF NOT EXISTS pxrules_outbox_pending
    ON pxrules_outbox (project, status, created, seq);
CREATE TABLE IF NOT EXISTS pxrules_delivery_log (
    seq BIGSERIAL PRIMARY KEY,
    project TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS pxrules_groups (
    seq BIGSERIAL,
    project TEXT NOT NULL, notifier TEXT NOT NULL, group_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (project, notifier, group_key));
CREATE TABLE IF NOT EXISTS pxrules_silences (
    seq BIGSERIAL,
    id TEXT PRIMARY KEY, ends_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
"""
_PROJECT_TABLES = ("pxrules_values", "pxrules_tracks", "pxrules_outbox", "pxrules_groups",
                   "pxrules_delivery_log")  # fmt: skip


def is_postgres(state: str) -> bool:
    return state.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the test extra installs it
        raise StoreError(
            "--state postgresql://… needs psycopg: pip install 'pxrules[postgresql]'"
        ) from None
    return psycopg


class PgStore:
    """The state in a PostgreSQL database. Like :class:`~pxrules.daemon.store.Store`, its
    methods are synchronous; call them through :meth:`run` from asyncio."""

    def __init__(self, url: str, connection: Any, io_timeout: float = IO_TIMEOUT) -> None:
        self.url = url
        self.io_timeout = io_timeout
        self.path = redact(url)  # what messages and /healthz show
        self._db = connection
        self._writer = _Writer()
        self._watchdog = _Watchdog(io_timeout)
        self.healthy = True
        self.last_error: str | None = None
        self.file_problem: str | None = None
        self.id_salt = self._meta("id_salt")

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, io_timeout: float | None = None) -> PgStore:
        """Connect, take the one-daemon lock (or raise :class:`StateFileRefused` naming the
        holder), and create or upgrade the schema. ``io_timeout`` (default
        ``$PXRULES_PG_IO_TIMEOUT``, else :data:`IO_TIMEOUT`) bounds one transaction."""
        if io_timeout is None:
            io_timeout = float(os.environ.get("PXRULES_PG_IO_TIMEOUT") or IO_TIMEOUT)
        db = cls._connect(url, io_timeout)
        try:
            cls._setup(db)
        except Exception:
            db.close()
            raise
        return cls(url, db, io_timeout)

    @staticmethod
    def _connect(url: str, io_timeout: float) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(url, autocommit=True, **_connect_options(io_timeout))
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(url)}: {exc}".strip()) from exc

    @classmethod
    def _setup(cls, db: Any) -> None:
        holder = f"{socket.gethostname()} PID {os.getpid()}"
        db.execute(_SCHEMA)
        if not db.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            row = db.execute("SELECT value FROM pxrules_meta WHERE key='holder'").fetchone()
            raise StateFileRefused(
                f"the database is in use by another pxrules daemon ({row[0] if row else '?'}); "
                "two daemons on one state would deliver every alert twice: stop that one"
            )
        with db.transaction():
            version = db.execute("SELECT value FROM pxrules_meta WHERE key='schema'").fetchone()
            if version is None:
                db.execute("INSERT INTO pxrules_meta VALUES ('schema', %s), ('id_salt', %s)",
                           (str(SCHEMA_VERSION), secrets.token_hex(8)))  # fmt: skip
            elif version[0] != str(SCHEMA_VERSION):
                raise StoreError(f"the database has pxrules schema {version[0]}, this pxrules "
                                 f"knows {SCHEMA_VERSION}: upgrade pxrules")  # fmt: skip
            db.execute(
                "INSERT INTO pxrules_meta VALUES ('holder', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (holder,),
            )

    async def run(
        self, method: Callable[..., T], *args: Any, priority: int = URGENT, **kwargs: Any
    ) -> T:
        job = functools.partial(method, *args, **kwargs)
        return await asyncio.wrap_future(self._writer.submit(priority, job))

    def verify_file(self) -> str | None:
        return None  # a database is not a file that can be deleted under us

    def close(self) -> None:
        self._writer.shutdown()
        self._watchdog.stop()
        with contextlib.suppress(Exception):
            self._db.close()

    def compact(self) -> None:
        return None  # autovacuum's job

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM pxrules_meta WHERE key=%s", (key,)).fetchone()
        return str(row[0]) if row else ""

    def _reconnect(self) -> None:
        """After the database went away: connect again and take the lock again first."""
        with contextlib.suppress(Exception):
            self._db.close()
        db = self._connect(self.url, self.io_timeout)
        try:
            self._setup(db)
        except Exception:
            db.close()
            raise
        self._db = db
        log.info("the state database %s is back", self.path)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        psycopg = _psycopg()
        try:
            if self._db.closed or self._db.broken:
                self._reconnect()
            self._watchdog.arm(self._db.fileno())
            try:
                with self._db.transaction():
                    yield self._db
            finally:
                self._watchdog.disarm()
        except (psycopg.Error, StoreError) as exc:
            self.healthy = False
            self.last_error = str(exc).strip()
            raise StoreError(f"cannot write the state database {self.path}: {exc}") from exc
        self.healthy = True
        self.last_error = None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """A read; a database that went away is a StoreError (and reconnected next time)."""
        with self._transaction() as db:
            return list(db.execute(sql, args).fetchall())

    # -- engine state ---------------------------------------------------------------------

    def load_engine_state(self, *, project: str = "") -> dict[str, Any] | None:
        values = {
            key: load_row(data)
            for key, data in self._read(
                "SELECT key, data FROM pxrules_values WHERE project=%s", (project,)
            )
        }
        tracks: dict[str, dict[str, Any]] = {}
        for rule, key, data in self._read(
            "SELECT rule, key, data FROM pxrules_tracks WHERE project=%s", (project,)
        ):
            tracks.setdefault(rule, {})[key] = load_row(data)
        if not values and not tracks:
            return None
        return document(values, tracks)

    def checkpoint(
        self, snapshot: Mapping[str, Any], *, full: bool = True, project: str = ""
    ) -> None:
        with self._transaction() as db:
            if full:
                db.execute("DELETE FROM pxrules_values WHERE project=%s", (project,))
                db.execute("DELETE FROM pxrules_tracks WHERE project=%s", (project,))
            values = snapshot.get("values", {})
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO pxrules_values VALUES (%s, %s, %s) ON CONFLICT (project, key) "
                    "DO UPDATE SET data = EXCLUDED.data",
                    [(project, k, dump_row(v)) for k, v in values.items() if v is not None],
                )
                cur.executemany(
                    "DELETE FROM pxrules_values WHERE project=%s AND key=%s",
                    [(project, k) for k, v in values.items() if v is None],
                )
                cur.executemany(
                    _UPSERT_TRACK,
                    [
                        (project, rule, key, dump_row(data))
                        for rule, by_key in snapshot.get("tracks", {}).items()
                        for key, data in by_key.items()
                    ],
                )

    # -- outbox ---------------------------------------------------------------------------

    def record_alerts(
        self,
        rows: Iterable[OutboxRow],
        tracks: Iterable[TrackRow],
        now: float,
        *,
        project: str = "",
    ) -> None:
        self.record_batches([(rows, tracks, now)], project=project)

    def record_batches(
        self,
        batches: Iterable[Batch],
        groups: Iterable[GroupRow] = (),
        *,
        project: str = "",
    ) -> None:
        with self._transaction() as db, db.cursor() as cur:
            self._save_groups(cur, project, groups)
            for rows, tracks, now in batches:
                cur.executemany(
                    "INSERT INTO pxrules_outbox (project, id, target, notifier, document, "
                    "created, next_attempt) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(project, i, t, n, json.dumps(d, ensure_ascii=False), now, now)
                     for i, t, n, d in rows],
                )  # fmt: skip
                cur.executemany(
                    _UPSERT_TRACK,
                    [(project, rule, key, dump_row(data)) for rule, key, data in tracks],
                )

    def save_groups(self, rows: Iterable[GroupRow], *, project: str = "") -> None:
        with self._transaction() as db, db.cursor() as cur:
            self._save_groups(cur, project, rows)

    @staticmethod
    def _save_groups(cur: Any, project: str, rows: Iterable[GroupRow]) -> None:
        for notifier, key, data in rows:
            if data is None:
                cur.execute(
                    "DELETE FROM pxrules_groups WHERE project=%s AND notifier=%s AND group_key=%s",
                    (project, notifier, key),
                )
            else:
                cur.execute(
                    "INSERT INTO pxrules_groups (project, notifier, group_key, data) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (project, notifier, group_key) "
                    "DO UPDATE SET data = EXCLUDED.data",
                    (project, notifier, key, json.dumps(data, ensure_ascii=False)),
                )

    def load_groups(self, *, project: str = "") -> list[tuple[str, str, dict[str, Any]]]:
        rows = self._read(
            "SELECT notifier, group_key, data FROM pxrules_groups WHERE project=%s ORDER BY seq",
            (project,),
        )
        return [(n, k, json.loads(d)) for n, k, d in rows]

    def pending(
        self, target: str | None = None, limit: int = -1, *, project: str = ""
    ) -> list[OutboxItem]:
        where, args = ("", ()) if target is None else (" AND target=%s", (target,))
        rows = self._read(
            "SELECT id, target, notifier, document, created, attempts, next_attempt "
            f"FROM pxrules_outbox WHERE project=%s AND status='pending'{where} "
            "ORDER BY created, seq LIMIT %s",
            (project, *args, None if limit < 0 else limit),
        )
        return [OutboxItem(i, t, n, json.loads(d), c, a, na) for i, t, n, d, c, a, na in rows]

    def fail_pending(self, target: str, reason: str, now: float, *, project: str = "") -> int:
        with self._transaction() as db:
            ids = [i for (i,) in db.execute(
                "UPDATE pxrules_outbox SET status='failed', last_error=%s "
                "WHERE project=%s AND status='pending' AND target=%s RETURNING id",
                (reason, project, target),
            ).fetchall()]  # fmt: skip
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO pxrules_delivery_log (project, at, id, target, outcome, detail) "
                    "VALUES (%s, %s, %s, %s, 'permanent', %s)",
                    [(project, now, i, target, reason) for i in ids],
                )
        return len(ids)

    def pending_counts(self, *, project: str | None = None) -> dict[str, int]:
        where, args = ("", ()) if project is None else (" AND project=%s", (project,))
        rows = self._read(
            f"SELECT target, COUNT(*) FROM pxrules_outbox WHERE status='pending'{where} "
            "GROUP BY target",
            args,
        )
        return {target: int(count) for target, count in rows}

    def attempt(
        self,
        item_id: str,
        target: str,
        outcome: str,
        detail: str,
        *,
        status: str,
        attempts: int,
        next_attempt: float,
        now: float,
        project: str = "",
    ) -> None:
        record = AttemptRecord(item_id, target, outcome, detail, status, attempts, next_attempt,
                               now)  # fmt: skip
        self.record_attempts([record], project=project)

    def record_attempts(self, records: Sequence[AttemptRecord], *, project: str = "") -> None:
        with self._transaction() as db, db.cursor() as cur:
            cur.executemany(
                "UPDATE pxrules_outbox SET status=%s, attempts=%s, next_attempt=%s, last_error=%s "
                "WHERE project=%s AND id=%s AND target=%s",
                [(r.status, r.attempts, r.next_attempt,
                  None if r.outcome == "delivered" else r.detail, project, r.id, r.target)
                 for r in records],
            )  # fmt: skip
            cur.executemany(
                "INSERT INTO pxrules_delivery_log (project, at, id, target, outcome, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(project, r.now, r.id, r.target, r.outcome, r.detail) for r in records],
            )

    def prune(self, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM pxrules_outbox WHERE status != 'pending' AND created < %s",
                (now - DELIVERED_KEEP_SECONDS,),
            )
            db.execute(
                "DELETE FROM pxrules_delivery_log WHERE seq <= "
                "(SELECT MAX(seq) FROM pxrules_delivery_log) - %s",
                (DELIVERY_LOG_ROWS,),
            )
            db.execute("DELETE FROM pxrules_silences WHERE ends_at < %s",
                       (now - SILENCES_KEEP_SECONDS,))  # fmt: skip

    # -- silences ---------------------------------------------------------------------------

    def save_silence(self, ident: str, ends_at: float, document: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pxrules_silences (id, ends_at, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET ends_at = EXCLUDED.ends_at, data = EXCLUDED.data",
                (ident, ends_at, json.dumps(document)),
            )

    def load_silences(self, now: float) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT data FROM pxrules_silences WHERE ends_at >= %s ORDER BY seq",
            (now - SILENCES_KEEP_SECONDS,),
        )
        return [json.loads(data) for (data,) in rows]

    # -- inspection -------------------------------------------------------------------------

    def deliveries(
        self, status: str | None = None, limit: int = 100, *, project: str | None = None
    ) -> list[dict[str, Any]]:
        where, args = ("status != 'delivered'", ()) if status is None else ("status=%s", (status,))
        if project is not None:
            where, args = f"project=%s AND {where}", (project, *args)
        rows = self._read(
            "SELECT project, id, target, notifier, document, created, attempts, next_attempt, "
            f"status, last_error FROM pxrules_outbox WHERE {where} "
            "ORDER BY created DESC, seq DESC LIMIT %s",
            (*args, limit),
        )
        return [delivery_row(*row) for row in rows]

    def delivery_log(self, *, project: str | None = None) -> list[tuple[str, str, str, str]]:
        where, args = ("", ()) if project is None else ("WHERE project=%s", (project,))
        rows = self._read(
            f"SELECT id, target, outcome, detail FROM pxrules_delivery_log {where} ORDER BY seq",
            args,
        )
        return [(i, t, o, d or "") for i, t, o, d in rows]

    # -- projects -------------------------------------------------------------------------

    def adopt(self, project: str) -> bool:
        return False  # a database is never from before projects

    def projects(self) -> list[str]:
        union = " UNION ".join(f"SELECT DISTINCT project FROM {t}" for t in _PROJECT_TABLES[:4])
        return sorted(p for (p,) in self._read(union))

    def scoped(self, project: str) -> ProjectStore:
        return ProjectStore(self, project)


_UPSERT_TRACK = (
    "INSERT INTO pxrules_tracks VALUES (%s, %s, %s, %s) ON CONFLICT (project, rule, key) "
    "DO UPDATE SET data = EXCLUDED.data"
)
