"""Durable state in PostgreSQL (``--state postgresql://…``): the same tables, the same
guarantees and the same methods as the SQLite :class:`~pxrules.daemon.store.Store`.

An alert's outbox rows and its track are committed in one transaction before the first
attempt; checkpoints, the delivery log, silences and groups are as in SQLite. The schema is
created and upgraded by pxrules (``meta.schema``).

Many daemons share one database (a fleet, :mod:`.fleet`): each project is owned by one of them
through a lease row whose **epoch** is a fencing token. Every write of a project's state made
with a fence (:class:`Fence`) first locks its lease row and checks the owner and epoch in the
same transaction; a daemon that lost the lease has its writes refused
(:class:`FencedWrite`, counted in :attr:`PgStore.fenced`).

The database going away does not stop alerting: every write then raises
:class:`~pxrules.daemon.store.StoreError` (the daemon goes on from memory, as with a full disk)
and the next write reconnects.

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
from typing import Any, NamedTuple, TypeVar

from ..engine.state import document, dump_row, load_row
from .store import (
    DELIVERED_KEEP_SECONDS,
    DELIVERY_LOG_ROWS,
    SILENCES_KEEP_SECONDS,
    URGENT,
    AttemptRecord,
    Batch,
    FencedWrite,
    GroupRow,
    OneAttempt,
    OutboxItem,
    OutboxRow,
    ProjectStore,
    StoreError,
    TrackRow,
    _Writer,
    delivery_row,
)

log = logging.getLogger("pxrules.store")
T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: members and leases (the fleet); 1 is upgraded by creating them
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
CREATE TABLE IF NOT EXISTS pxrules_members (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, version TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL DEFAULT now(), heartbeat TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS pxrules_leases (
    project TEXT PRIMARY KEY,
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    expires TIMESTAMPTZ NOT NULL DEFAULT now(),
    acquired TIMESTAMPTZ,
    seen TIMESTAMPTZ NOT NULL DEFAULT now());
"""
#: The transaction lock under which a daemon creates or upgrades the schema ("pxrules").
SETUP_LOCK = 0x70787275_6C6573

_PROJECT_TABLES = ("pxrules_values", "pxrules_tracks", "pxrules_outbox", "pxrules_groups",
                   "pxrules_delivery_log")  # fmt: skip


#: What a server that is down for everyone answers (or the system, when nothing listens): it
#: was stopped, is restarting, or crashed. Anything else — silence, a timeout, too many
#: connections, a refused password — may be this daemon's problem alone.
_DOWN = (
    "Connection refused",  # nothing listens on the port
    "No such file or directory",  # nor on the Unix socket
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "terminating connection due to administrator command",  # a stop or restart
    "server closed the connection unexpectedly",  # a crash (a cut socket is the watchdog's)
)


def _says_down(error: str) -> bool:
    return any(sign in error for sign in _DOWN)


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


class Fence(NamedTuple):
    """Who may write a project's state: the lease's owner (a member id) at an epoch."""

    owner: str
    epoch: int


class PgStore(OneAttempt):
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
        #: Writes refused because the writer's lease is gone (see :class:`FencedWrite`).
        self.fenced = 0
        #: Whether the last failure says the server is down for everyone (stopped, restarting)
        #: rather than unreachable from here (see :func:`_says_down`).
        self.down = False

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, io_timeout: float | None = None) -> PgStore:
        """Connect and create or upgrade the schema. ``io_timeout`` (default
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
    def _connect(url: str, io_timeout: float, watchdog: _Watchdog | None = None) -> Any:
        psycopg = _psycopg()
        try:
            db = psycopg.connect(url, autocommit=True, **_connect_options(io_timeout))
            if watchdog is not None:
                watchdog.arm(db.fileno())
            # A statement waiting on a lock (or a slow server) fails in bounded time too; and
            # the server ends the session of a daemon that stops mid-transaction (paused,
            # partitioned), so the lease rows it locked do not hold up a takeover.
            millis = str(int(io_timeout * 1000))
            db.execute("SELECT set_config('statement_timeout', %s, false), "
                       "set_config('idle_in_transaction_session_timeout', %s, false)",
                       (millis, millis))  # fmt: skip
            return db
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact(url)}: {exc}".strip()) from exc

    @classmethod
    def _setup(cls, db: Any) -> None:
        current = db.execute("SELECT to_regclass('pxrules_meta') IS NOT NULL").fetchone()[0]
        if current:
            row = db.execute("SELECT value FROM pxrules_meta WHERE key='schema'").fetchone()
            if row is not None and row[0] == str(SCHEMA_VERSION):
                return  # no DDL (and none of its locks) on a database that is up to date
        with db.transaction():
            # One daemon at a time creates or upgrades the schema (a fleet starting together).
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK,))
            db.execute(_SCHEMA)
            version = db.execute("SELECT value FROM pxrules_meta WHERE key='schema'").fetchone()
            if version is None:
                db.execute("INSERT INTO pxrules_meta VALUES ('schema', %s), ('id_salt', %s)",
                           (str(SCHEMA_VERSION), secrets.token_hex(8)))  # fmt: skip
            elif int(version[0]) > SCHEMA_VERSION:
                raise StoreError(f"the database has pxrules schema {version[0]}, this pxrules "
                                 f"knows {SCHEMA_VERSION}: upgrade pxrules")  # fmt: skip
            elif int(version[0]) < SCHEMA_VERSION:  # 1 → 2: the fleet's tables, created above
                db.execute("UPDATE pxrules_meta SET value=%s WHERE key='schema'",
                           (str(SCHEMA_VERSION),))  # fmt: skip

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
        """After the database went away: connect again."""
        with contextlib.suppress(Exception):
            self._db.close()
        try:  # armed as soon as connected: a connection that goes silent now fails too
            db = self._connect(self.url, self.io_timeout, self._watchdog)
            try:
                self._setup(db)
            except Exception:
                db.close()
                raise
        finally:
            self._watchdog.disarm()
        self._db = db
        log.info("the state database %s is back", self.path)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        psycopg = _psycopg()
        fired = self._watchdog.fired
        try:
            if self._db.closed or self._db.broken:
                self._reconnect()
            self._watchdog.arm(self._db.fileno())
            try:
                with self._db.transaction():
                    yield self._db
            finally:
                self._watchdog.disarm()
        except FencedWrite:
            raise
        except (psycopg.Error, StoreError) as exc:
            self.healthy = False
            self.last_error = str(exc).strip()
            # Down for everyone only if the server says so (or is not there to answer); no
            # answer at all (the watchdog cut a silent connection), a timeout, too many
            # connections: it may well be up for the other daemons.
            self.down = self._watchdog.fired == fired and _says_down(self.last_error)
            raise StoreError(f"cannot write the state database {self.path}: {exc}") from exc
        self.healthy = True
        self.last_error = None
        self.down = False

    def _check_fence(self, db: Any, project: str, fence: Fence | None) -> None:
        """In a write's transaction: the writer still holds the project's lease at its epoch
        (the row stays locked until the commit, so no takeover slips in between); else
        :class:`FencedWrite`."""
        if fence is None:
            return
        row = db.execute(
            "SELECT 1 FROM pxrules_leases WHERE project=%s AND owner=%s AND epoch=%s FOR SHARE",
            (project, fence.owner, fence.epoch),
        ).fetchone()
        if row is None:
            self.fenced += 1
            raise FencedWrite(
                f"project {project}'s lease (epoch {fence.epoch}) is no longer this daemon's: "
                "the write is refused"
            )

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
        self,
        snapshot: Mapping[str, Any],
        *,
        full: bool = True,
        project: str = "",
        fence: Fence | None = None,
    ) -> None:
        with self._transaction() as db:
            self._check_fence(db, project, fence)
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
        fence: Fence | None = None,
    ) -> None:
        self.record_batches([(rows, tracks, now)], project=project, fence=fence)

    def record_batches(
        self,
        batches: Iterable[Batch],
        groups: Iterable[GroupRow] = (),
        *,
        project: str = "",
        fence: Fence | None = None,
    ) -> None:
        with self._transaction() as db, db.cursor() as cur:
            self._check_fence(db, project, fence)
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

    def save_groups(
        self, rows: Iterable[GroupRow], *, project: str = "", fence: Fence | None = None
    ) -> None:
        with self._transaction() as db, db.cursor() as cur:
            self._check_fence(db, project, fence)
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

    def fail_pending(
        self,
        target: str,
        reason: str,
        now: float,
        *,
        project: str = "",
        fence: Fence | None = None,
    ) -> int:
        with self._transaction() as db:
            self._check_fence(db, project, fence)
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

    def record_attempts(
        self, records: Sequence[AttemptRecord], *, project: str = "", fence: Fence | None = None
    ) -> None:
        with self._transaction() as db, db.cursor() as cur:
            self._check_fence(db, project, fence)
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

    # -- the fleet: members and leases (all times are the database's clock) ---------------

    def fleet_tick(self, me: Member, ttl: float, loaded: Sequence[str],
                   held: Mapping[str, int]) -> Tick:  # fmt: skip
        """One round of a member, in one transaction: its heartbeat; the projects it can run
        are seen; its leases renewed (those it no longer holds are missing from
        :attr:`Tick.renewed`); then it takes free or expired leases up to its fair share,
        ``ceil(projects / live members)``, or says how many it holds beyond it.

        A lease that expired is taken only once the server has been up for a TTL: after a
        database restart every owner first gets the chance to renew its own."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pxrules_members (id, host, pid, version) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat = now()",
                (me.id, me.host, me.pid, me.version),
            )
            db.execute(
                "DELETE FROM pxrules_members WHERE id IN (SELECT id FROM pxrules_members "
                "WHERE heartbeat < now() - make_interval(secs => %s) FOR UPDATE SKIP LOCKED)",
                (ttl * 20,),
            )
            # New projects get a lease row; existing rows are not touched (nor locked): their
            # owners keep `seen` fresh, so a project no daemon runs any more stops counting.
            db.execute(
                "INSERT INTO pxrules_leases (project) SELECT unnest(%s::text[]) "
                "ON CONFLICT (project) DO NOTHING",
                (list(loaded),),
            )
            renewed = dict(db.execute(
                "UPDATE pxrules_leases SET expires = now() + make_interval(secs => %s), "
                "seen = now() "
                "WHERE owner=%s AND (project, epoch) IN "
                "(SELECT * FROM unnest(%s::text[], %s::bigint[])) RETURNING project, epoch",
                (ttl, me.id, list(held), list(held.values())),
            ).fetchall())  # fmt: skip
            members = db.execute(
                "SELECT count(*) FROM pxrules_members "
                "WHERE heartbeat > now() - make_interval(secs => %s)",
                (ttl,),
            ).fetchone()[0]
            projects = db.execute(
                "SELECT count(*) FROM pxrules_leases "
                "WHERE seen > now() - make_interval(secs => %s)",
                (ttl * 3,),
            ).fetchone()[0]
            share = -(-projects // max(1, members))
            acquired: list[tuple[str, int, str | None]] = []
            room = share - len(renewed)
            if room > 0:
                acquired = [(p, int(e), prev) for p, e, prev in db.execute(
                    "WITH free AS (SELECT project, owner FROM pxrules_leases "
                    "  WHERE project = ANY(%s::text[]) AND NOT project = ANY(%s::text[]) "
                    "  AND (owner IS NULL OR (expires < now() "
                    "       AND now() > pg_postmaster_start_time() + make_interval(secs => %s))) "
                    "  ORDER BY project LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "UPDATE pxrules_leases l SET owner=%s, epoch=l.epoch + 1, acquired=now(), "
                    "  seen = now(), expires = now() + make_interval(secs => %s) "
                    "FROM free WHERE l.project = free.project "
                    "RETURNING l.project, l.epoch, free.owner",
                    (list(loaded), list(renewed), ttl, room, me.id, ttl),
                ).fetchall()]  # fmt: skip
            return Tick({p: int(e) for p, e in renewed.items()}, acquired,
                        max(0, len(renewed) - share), int(members), int(projects))  # fmt: skip

    def release(self, project: str, fence: Fence) -> bool:
        """Hand a lease over now (another member takes it on its next round)."""
        with self._transaction() as db:
            row = db.execute(
                "UPDATE pxrules_leases SET owner=NULL, expires=now(), seen=now() "
                "WHERE project=%s AND owner=%s AND epoch=%s RETURNING 1",
                (project, fence.owner, fence.epoch),
            ).fetchone()
        return row is not None

    def leave(self, member: str) -> None:
        """A member that stops: its row goes, so the others' shares grow at once."""
        with self._transaction() as db:
            db.execute("DELETE FROM pxrules_members WHERE id=%s", (member,))

    def fleet_status(self) -> dict[str, Any]:
        """Members (with the age of their heartbeat) and projects (owner, epoch, lease
        expiry, pending outbox), for ``pxrules fleet status``."""
        members = self._read(
            "SELECT id, host, pid, version, extract(epoch FROM started), "
            "extract(epoch FROM now() - heartbeat) FROM pxrules_members ORDER BY started, id"
        )
        leases = self._read(
            "SELECT l.project, l.owner, l.epoch, extract(epoch FROM l.expires - now()), "
            "extract(epoch FROM now() - l.seen), "
            "(SELECT count(*) FROM pxrules_outbox o WHERE o.project = l.project "
            " AND o.status = 'pending') FROM pxrules_leases l ORDER BY l.project"
        )
        return {
            "members": [
                {"id": i, "host": h, "pid": p, "version": v, "started": float(st),
                 "heartbeat_age": round(float(age), 3)}
                for i, h, p, v, st, age in members
            ],
            "projects": [
                {"project": p, "owner": o, "epoch": int(e),
                 "lease_expires_in": round(float(left), 3), "seen_ago": round(float(seen), 3),
                 "pending": int(n)}
                for p, o, e, left, seen, n in leases
            ],
        }  # fmt: skip


class Member(NamedTuple):
    """One daemon of a fleet."""

    id: str
    host: str
    pid: int
    version: str


class Tick(NamedTuple):
    """What one round of a member found (see :meth:`PgStore.fleet_tick`)."""

    renewed: dict[str, int]  # project → epoch, the leases it still holds
    acquired: list[tuple[str, int, str | None]]  # project, new epoch, the previous owner
    excess: int  # leases held beyond the fair share: hand over this many
    members: int  # live members
    projects: int  # projects some member runs


_UPSERT_TRACK = (
    "INSERT INTO pxrules_tracks VALUES (%s, %s, %s, %s) ON CONFLICT (project, rule, key) "
    "DO UPDATE SET data = EXCLUDED.data"
)
