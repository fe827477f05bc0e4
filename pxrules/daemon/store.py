"""Durable state in one SQLite file (WAL): engine state, the delivery outbox, a delivery log.

Crash safety rests on one rule: an alert's outbox rows and the state of the alert's rule+key are
written in one transaction *before* the first delivery attempt. After ``kill -9`` the engine
resumes from a state that already counts the alert (so it is not emitted again) and the outbox
still holds it (so it is not lost); only a delivery that succeeded but was not yet marked can go
out twice. Values and all other tracks are checkpointed every few seconds.

>>> store = Store.open(":memory:")
>>> store.load_engine_state()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from ..engine.state import document, dump_row, load_row

if TYPE_CHECKING:
    from .pgstore import PgStore

log = logging.getLogger("pxrules.store")
T = TypeVar("T")

SCHEMA_VERSION = 2  # 2: every row of a project's state carries the project's name
COMPACT_MIN_PAGES = 256  # free pages (4 KiB each) worth giving back

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS key_values (
    project TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (project, key));
CREATE TABLE IF NOT EXISTS tracks (
    project TEXT NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (project, rule, key));
CREATE TABLE IF NOT EXISTS outbox (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    notifier TEXT NOT NULL,
    document TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (project, id, target));
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (project, status, created);
CREATE INDEX IF NOT EXISTS outbox_target ON outbox (project, target, status, created);
CREATE TABLE IF NOT EXISTS delivery_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT, project TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS groups (
    project TEXT NOT NULL, notifier TEXT NOT NULL, group_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (project, notifier, group_key));
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, ends_at REAL NOT NULL, data TEXT NOT NULL);
"""

#: Schema 1 (one project per file, no project column) to 2: the rows are kept, with the project
#: "" until :meth:`Store.adopt` gives them to the daemon's one project.
_MIGRATE_1_TO_2 = (
    """
CREATE TABLE IF NOT EXISTS groups (
    notifier TEXT NOT NULL, group_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (notifier, group_key));
DROP INDEX IF EXISTS outbox_pending;
DROP INDEX IF EXISTS outbox_target;
ALTER TABLE key_values RENAME TO key_values_1;
ALTER TABLE tracks RENAME TO tracks_1;
ALTER TABLE outbox RENAME TO outbox_1;
ALTER TABLE groups RENAME TO groups_1;
ALTER TABLE delivery_log ADD COLUMN project TEXT NOT NULL DEFAULT '';
"""
    + _SCHEMA
    + """
INSERT INTO key_values SELECT '', key, data FROM key_values_1;
INSERT INTO tracks SELECT '', rule, key, data FROM tracks_1;
INSERT INTO outbox SELECT '', id, target, notifier, document, created, attempts, next_attempt,
    status, last_error FROM outbox_1 ORDER BY rowid;
INSERT INTO groups SELECT '', notifier, group_key, data FROM groups_1 ORDER BY rowid;
DROP TABLE key_values_1;
DROP TABLE tracks_1;
DROP TABLE outbox_1;
DROP TABLE groups_1;
UPDATE meta SET value='2' WHERE key='schema';
"""
)
#: The tables whose rows belong to one project.
_PROJECT_TABLES = ("key_values", "tracks", "outbox", "groups", "delivery_log")

# Keep the delivery log from growing without bound on a long-running daemon.
DELIVERY_LOG_ROWS = 10_000
DELIVERED_KEEP_SECONDS = 7 * 86400
# Silences stay listed (as expired) this long after they end, as in Alertmanager.
SILENCES_KEEP_SECONDS = 5 * 86400


class StoreError(Exception):
    """The state file cannot be written (disk full, read-only): alerting goes on in memory."""


class FencedWrite(StoreError):
    """A write for a project whose lease this daemon no longer holds (another daemon of the
    fleet took it over, with a higher epoch): refused, nothing written, nothing to deliver."""


class StateFileRefused(StoreError):
    """The path is not one pxrules may use as its state file (a directory, another program's
    file): the daemon does not start rather than touch it."""


_SQLITE_HEADER = b"SQLite format 3\x00"


def _existing_kind(file: Path) -> str:
    """``empty``, ``ours`` (a pxrules state file), ``corrupt`` (SQLite, unreadable) or
    ``foreign`` (anything else: never moved aside, never overwritten)."""
    with file.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if not header:
        return "empty"
    if header != _SQLITE_HEADER:
        return "foreign"
    try:
        db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        return "foreign" if "no such table" in str(exc) else "corrupt"
    except sqlite3.DatabaseError:
        return "corrupt"
    return "ours" if row is not None else "foreign"


#: An outbox row to write: (id, target, notifier, alert document).
OutboxRow = tuple[str, str, str, dict[str, Any]]
#: A track to write: (rule, key, its saved state).
TrackRow = tuple[str, str, dict[str, Any]]
#: A group of a buffered notifier: (notifier, group key, its state, or None: gone).
GroupRow = tuple[str, str, dict[str, Any] | None]
#: What one flush writes: outbox rows and tracks, made at one time.
Batch = tuple[Iterable[OutboxRow], Iterable[TrackRow], float]


def delivery_row(
    project: str, ident: str, target: str, notifier: str, document: str, created: float,
    attempts: int, next_attempt: float, status: str, error: str | None,
) -> dict[str, Any]:  # fmt: skip
    """An outbox row as the console lists it (with its alert's rule, key and state)."""
    alert = json.loads(document)
    return {
        "project": project, "id": ident, "target": target, "notifier": notifier,
        "rule": alert.get("rule"), "key": alert.get("key"), "state": alert.get("state"),
        "status": status, "attempts": attempts, "created": created,
        "next_attempt": next_attempt if status == "pending" else None, "last_error": error,
    }  # fmt: skip


@dataclass(frozen=True)
class OutboxItem:
    id: str
    target: str
    notifier: str
    document: dict[str, Any]
    created: float
    attempts: int
    next_attempt: float


def _identity(path: str) -> tuple[int, int] | None:
    """Device and inode of the file at ``path`` (None: no such file, or in memory)."""
    if path == ":memory:":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class AttemptRecord(NamedTuple):
    """One delivery attempt, as :meth:`Store.record_attempts` writes it."""

    id: str
    target: str
    outcome: str
    detail: str
    status: str
    attempts: int
    next_attempt: float
    now: float


class _Writer:
    """One thread that runs store jobs, most urgent first (alerts before checkpoints)."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Any]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="pxrules-store", daemon=True)
        self._thread.start()

    def submit(self, priority: int, job: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((priority, next(self._order), job, future))
        return future

    def _loop(self) -> None:
        while True:
            _, _, job, future = self._queue.get()
            if job is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job())
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Finish every queued job, then stop."""
        self._queue.put((1 << 30, next(self._order), None, None))
        self._thread.join()


URGENT, BACKGROUND = 0, 1

#: Seconds between the WAL checkpoints of the checkpointer thread.
WAL_CHECKPOINT_EVERY = 1.0
#: Pages of WAL past which the writer itself checkpoints (a safety net: normally the
#: checkpointer thread keeps the WAL far below it).
WAL_SAFETY_PAGES = 20_000


class _WalCheckpointer:
    """Copies the WAL into the database from a thread and a connection of its own.

    SQLite's automatic checkpoint runs in the connection that commits, so every thousand pages
    one alert's write also paid for copying the WAL back and syncing the file — the tail of the
    event → webhook latency. A PASSIVE checkpoint from another connection does that work beside
    the writer, never blocking it. The connection is opened beside the store's own and replaced
    with it (never re-opened by path: a path may by then name another file).
    """

    def __init__(self, path: str, every: float | None = None) -> None:
        self.every = WAL_CHECKPOINT_EVERY if every is None else every
        self.runs = 0
        self._lock = threading.Lock()
        self._db = _side_connection(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pxrules-wal", daemon=True)
        self._thread.start()

    def attach(self, path: str) -> None:
        """The store moved to a new file: checkpoint that one from now on."""
        fresh = _side_connection(path)
        with self._lock:
            old, self._db = self._db, fresh
        _close(old)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                if self._db is None:
                    continue
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.runs += 1
                except sqlite3.Error:
                    pass  # busy or failing: the writer's own safety-net checkpoint remains

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            old, self._db = self._db, None
        _close(old)


def _side_connection(path: str) -> sqlite3.Connection | None:
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=1000")
    except sqlite3.Error:
        return None
    return db


def _close(db: sqlite3.Connection | None) -> None:
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            db.close()


class _RecordsAttempts(Protocol):
    def record_attempts(self, records: Sequence[AttemptRecord], *, project: str = "") -> None: ...


class OneAttempt:
    """:meth:`attempt`, one attempt's record: a shortcut to ``record_attempts`` that both
    stores share."""

    def attempt(
        self: _RecordsAttempts,
        item_id: str,
        target: str,
        outcome: str,
        detail: str,
        *,
        status: str,
        attempts: int,
        next_attempt: float,
        now: float,
        **where: Any,
    ) -> None:
        """Record one attempt: the outbox row's new status and a delivery-log line
        (``where``: the project, and in a fleet the fence)."""
        self.record_attempts([
            AttemptRecord(item_id, target, outcome, detail, status, attempts, next_attempt, now)
        ], **where)  # fmt: skip


class Store(OneAttempt):
    """The state file. Methods raise :class:`StoreError` when writing fails.

    The methods are synchronous; under asyncio call them through :meth:`run`, which runs them
    one at a time on the store's own thread, so the event loop never waits for the disk.
    """

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self._writer = _Writer()
        self.path = path
        self.healthy = True  # the last write succeeded
        self.last_error: str | None = None
        self.file_problem: str | None = None  # the file was replaced under us (until restart)
        self._identity = _identity(path)
        self.id_salt = self._meta("id_salt")
        self._wal = _WalCheckpointer(path) if path != ":memory:" else None

    # -- opening --------------------------------------------------------------------------

    @staticmethod
    def refuse(name: str) -> None:
        """Raise :class:`StateFileRefused` for a path that must not be used as a state file
        (empty, a directory, a file that is not ours); touches nothing."""
        if not name:
            raise StateFileRefused("the state path is empty (use --state none to keep no state)")
        file = Path(name)
        if file.is_dir():
            raise StateFileRefused(f"{name} is a directory: --state wants the path of a file")
        if file.exists() and _existing_kind(file) == "foreign":
            raise StateFileRefused(
                f"{name} is not a pxrules state file: refusing to touch it; "
                "give --state a new path (or that of an existing pxrules state file)"
            )

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open or create the state file (mode 0600). A corrupt one is moved aside loudly; a
        path that is not a pxrules state file raises :class:`StateFileRefused` untouched; one
        that cannot be opened for writing (read-only, a full disk) raises the error untouched."""
        name = str(path)
        if name == ":memory:":
            return cls._connect(name)
        cls.refuse(name)
        file = Path(name)
        if not file.exists():
            # Create it private before SQLite does (SQLite would honour the umask).
            fd = os.open(file, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        try:
            return cls._connect(name)
        except sqlite3.OperationalError:
            raise  # read-only, full, an I/O error: not a corrupt file, so it is left as it is
        except sqlite3.DatabaseError as exc:
            aside = file.with_name(f"{file.name}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(name + suffix)
                if part.exists():
                    part.rename(Path(str(aside) + suffix))
            log.error(
                "state file %s is unreadable (%s): moved it to %s and starting with a clean "
                "state; alerts that were pending delivery in it are NOT retried",
                name,
                exc,
                aside,
            )
            fd = os.open(file, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            return cls._connect(name)

    @staticmethod
    def _tune(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES}")  # see _WalCheckpointer

    @classmethod
    def _connect(cls, name: str) -> Store:
        db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        try:
            # Pages freed by removed keys and pruned rows are given back (see compact); a file
            # made before this setting is converted once, by VACUUM.
            if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                db.execute("VACUUM")
            cls._tune(db)
            db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT INTO meta VALUES ('id_salt', ?)", (secrets.token_hex(8),))
            elif version[0] == "1":
                db.executescript(f"BEGIN IMMEDIATE; {_MIGRATE_1_TO_2} COMMIT;")
                log.info("state file %s: schema 1 upgraded to %d", name, SCHEMA_VERSION)
            elif version[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"unknown schema version {version[0]}")
            else:
                db.executescript(_SCHEMA)
            db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return cls(db, name)

    async def run(
        self, method: Callable[..., T], *args: Any, priority: int = URGENT, **kwargs: Any
    ) -> T:
        """Run one of this store's methods on its writer thread and await the result.
        ``priority=BACKGROUND`` jobs (checkpoints) wait for every URGENT one queued."""
        job = functools.partial(method, *args, **kwargs)
        return await asyncio.wrap_future(self._writer.submit(priority, job))

    def verify_file(self) -> str | None:
        """Notice the state file deleted or replaced while it is open, and recreate it from
        the copy still open (SQLite keeps reading a deleted file): deleted, at its path;
        replaced by another file, which is left untouched, next to it (and :attr:`file_problem`
        says so until a restart). Returns what was done, or None when the file is in place."""
        if self._identity is None:
            return None
        now = _identity(self.path)
        if now == self._identity:
            return None
        original = self.path
        target = original if now is None else f"{original}.recovered-{int(time.time())}"
        fresh: sqlite3.Connection | None = None
        try:
            fd = os.open(target, os.O_CREAT | os.O_RDWR, 0o600)  # private, as at creation
            os.close(fd)
            fresh = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            self._db.backup(fresh)
            self._tune(fresh)
        except (OSError, sqlite3.Error) as exc:
            if fresh is not None:
                fresh.close()
            self.file_problem = f"state file {original} vanished and cannot be recreated: {exc}"
            self._identity = now  # do not retry every few seconds; the problem stays shown
            return self.file_problem
        old, self._db = self._db, fresh
        if self._wal is not None:
            self._wal.attach(target)
        with contextlib.suppress(sqlite3.Error):
            old.close()
        self.path, self._identity = target, _identity(target)
        if now is None:
            return f"state file {original} was deleted while running: recreated it"
        self.file_problem = (
            f"state file {original} was replaced by another file (left untouched): "
            f"state is now written to {target}"
        )
        return self.file_problem

    def close(self) -> None:
        self._writer.shutdown()
        if self._wal is not None:
            self._wal.stop()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else ""

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite rolls back by itself on some errors (FULL)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.healthy = False
            self.last_error = str(exc)
            raise StoreError(f"cannot write the state file {self.path}: {exc}") from exc
        self.healthy = True
        self.last_error = None

    # -- engine state ---------------------------------------------------------------------

    def load_engine_state(self, *, project: str = "") -> dict[str, Any] | None:
        """The engine snapshot assembled from the checkpoint and per-alert track updates."""
        values = {
            key: load_row(data)
            for key, data in self._db.execute(
                "SELECT key, data FROM key_values WHERE project=?", (project,)
            )
        }
        tracks: dict[str, dict[str, Any]] = {}
        for rule, key, data in self._db.execute(
            "SELECT rule, key, data FROM tracks WHERE project=?", (project,)
        ):
            tracks.setdefault(rule, {})[key] = load_row(data)
        if not values and not tracks:
            return None
        return document(values, tracks)

    def checkpoint(
        self, snapshot: Mapping[str, Any], *, full: bool = True, project: str = ""
    ) -> None:
        """Store a project's engine state: a full snapshot replaces all of it; ``full=False``
        upserts only the values and tracks given (the engine's ``changes()``)."""
        with self._transaction() as db:
            if full:
                db.execute("DELETE FROM key_values WHERE project=?", (project,))
                db.execute("DELETE FROM tracks WHERE project=?", (project,))
            values = snapshot.get("values", {})
            db.executemany(
                "INSERT OR REPLACE INTO key_values VALUES (?, ?, ?)",
                ((project, k, dump_row(v)) for k, v in values.items() if v is not None),
            )
            db.executemany(
                "DELETE FROM key_values WHERE project=? AND key=?",
                ((project, k) for k, v in values.items() if v is None),
            )
            db.executemany(
                "INSERT OR REPLACE INTO tracks VALUES (?, ?, ?, ?)",
                (
                    (project, rule, key, dump_row(data))
                    for rule, by_key in snapshot.get("tracks", {}).items()
                    for key, data in by_key.items()
                ),
            )

    def compact(self) -> None:
        """Give free pages back to the file system once they are a quarter of the file (after
        many keys were removed): the file shrinks instead of keeping its largest size."""
        with contextlib.suppress(sqlite3.Error):  # best effort: a full disk is reported elsewhere
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            if free > max(COMPACT_MIN_PAGES, pages // 4):
                self._db.executescript("PRAGMA incremental_vacuum;")  # execute() frees one page
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- outbox ---------------------------------------------------------------------------

    def record_alerts(
        self,
        rows: Iterable[OutboxRow],
        tracks: Iterable[TrackRow],
        now: float,
        *,
        project: str = "",
    ) -> None:
        """One transaction: outbox rows ``(id, target, notifier, document)`` and track states."""
        self.record_batches([(rows, tracks, now)], project=project)

    def record_batches(
        self,
        batches: Iterable[Batch],
        groups: Iterable[GroupRow] = (),
        *,
        project: str = "",
    ) -> None:
        """Several :meth:`record_alerts` in one transaction, in order, with the groups that
        changed with them."""
        with self._transaction() as db:
            self._save_groups(db, project, groups)
            for rows, tracks, now in batches:
                db.executemany(
                    "INSERT OR IGNORE INTO outbox (project, id, target, notifier, document, "
                    "created, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ((project, i, t, n, json.dumps(d, ensure_ascii=False), now, now)
                     for i, t, n, d in rows),
                )  # fmt: skip
                db.executemany(
                    "INSERT OR REPLACE INTO tracks VALUES (?, ?, ?, ?)",
                    ((project, rule, key, dump_row(data)) for rule, key, data in tracks),
                )

    def save_groups(self, rows: Iterable[GroupRow], *, project: str = "") -> None:
        """Store buffered notifiers' groups (``None``: the group is gone)."""
        with self._transaction() as db:
            self._save_groups(db, project, rows)

    @staticmethod
    def _save_groups(
        db: sqlite3.Connection,
        project: str,
        rows: Iterable[GroupRow],
    ) -> None:
        for notifier, key, data in rows:
            if data is None:
                db.execute(
                    "DELETE FROM groups WHERE project=? AND notifier=? AND group_key=?",
                    (project, notifier, key),
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?)",
                    (project, notifier, key, json.dumps(data, ensure_ascii=False)),
                )

    def load_groups(self, *, project: str = "") -> list[tuple[str, str, dict[str, Any]]]:
        """Every stored group of the project: ``(notifier, group key, state)``."""
        rows = self._db.execute(
            "SELECT notifier, group_key, data FROM groups WHERE project=? ORDER BY rowid",
            (project,),
        )
        return [(n, k, json.loads(d)) for n, k, d in rows]

    def pending(
        self, target: str | None = None, limit: int = -1, *, project: str = ""
    ) -> list[OutboxItem]:
        """Undelivered items in the order they were made (of one target; at most ``limit``)."""
        where, args = ("status='pending'", ()) if target is None else (
            "status='pending' AND target=?", (target,)
        )  # fmt: skip
        rows = self._db.execute(
            "SELECT id, target, notifier, document, created, attempts, next_attempt "
            f"FROM outbox WHERE project=? AND {where} ORDER BY created, rowid LIMIT ?",
            (project, *args, limit),
        ).fetchall()
        return [OutboxItem(i, t, n, json.loads(d), c, a, na) for i, t, n, d, c, a, na in rows]

    def fail_pending(self, target: str, reason: str, now: float, *, project: str = "") -> int:
        """Mark every pending item of ``target`` failed with ``reason``; return how many."""
        with self._transaction() as db:
            ids = [i for (i,) in db.execute(
                "SELECT id FROM outbox WHERE project=? AND status='pending' AND target=?",
                (project, target),
            )]  # fmt: skip
            db.execute(
                "UPDATE outbox SET status='failed', last_error=? "
                "WHERE project=? AND status='pending' AND target=?",
                (reason, project, target),
            )
            db.executemany(
                "INSERT INTO delivery_log (at, id, target, outcome, detail, project) "
                "VALUES (?, ?, ?, 'permanent', ?, ?)",
                ((now, i, target, reason, project) for i in ids),
            )
        return len(ids)

    def pending_counts(self, *, project: str | None = None) -> dict[str, int]:
        """Target → how many of its items are undelivered (of one project, or of all)."""
        where, args = ("", ()) if project is None else ("AND project=?", (project,))
        rows = self._db.execute(
            f"SELECT target, COUNT(*) FROM outbox WHERE status='pending' {where} GROUP BY target",
            args,
        )
        return {target: count for target, count in rows}

    def record_attempts(self, records: Sequence[AttemptRecord], *, project: str = "") -> None:
        """Several attempts in one transaction, in order (a burst costs one commit)."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET status=?, attempts=?, next_attempt=?, last_error=? "
                "WHERE project=? AND id=? AND target=?",
                (
                    (
                        r.status, r.attempts, r.next_attempt,
                        None if r.outcome == "delivered" else r.detail, project, r.id, r.target,
                    )
                    for r in records
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO delivery_log (at, id, target, outcome, detail, project) "
                "VALUES (?,?,?,?,?,?)",
                ((r.now, r.id, r.target, r.outcome, r.detail, project) for r in records),
            )

    def prune(self, now: float) -> None:
        """Drop old delivered/failed rows and old delivery-log lines."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND created < ?",
                (now - DELIVERED_KEEP_SECONDS,),
            )
            db.execute(
                "DELETE FROM delivery_log WHERE seq <= (SELECT MAX(seq) FROM delivery_log) - ?",
                (DELIVERY_LOG_ROWS,),
            )
            db.execute("DELETE FROM silences WHERE ends_at < ?", (now - SILENCES_KEEP_SECONDS,))

    # -- silences ---------------------------------------------------------------------------

    def save_silence(self, ident: str, ends_at: float, document: Mapping[str, Any]) -> None:
        """Store (or replace, by id) one silence's document."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO silences (id, ends_at, data) VALUES (?, ?, ?)",
                (ident, ends_at, json.dumps(document)),
            )

    def load_silences(self, now: float) -> list[dict[str, Any]]:
        """The documents of the silences that ended at most SILENCES_KEEP_SECONDS ago."""
        rows = self._db.execute(
            "SELECT data FROM silences WHERE ends_at >= ? ORDER BY rowid",
            (now - SILENCES_KEEP_SECONDS,),
        )
        return [json.loads(data) for (data,) in rows]

    # -- inspection -------------------------------------------------------------------------

    def deliveries(
        self, status: str | None = None, limit: int = 100, *, project: str | None = None
    ) -> list[dict[str, Any]]:
        """Outbox rows, newest first: pending (queued or retrying) and failed ones, or one
        ``status``; each with its project, its alert's rule, key and state and the last error
        (of one project, or of all)."""
        where, args = ("status != 'delivered'", ()) if status is None else ("status=?", (status,))
        if project is not None:
            where, args = f"project=? AND {where}", (project, *args)
        rows = self._db.execute(
            "SELECT project, id, target, notifier, document, created, attempts, next_attempt, "
            f"status, last_error FROM outbox WHERE {where} "
            "ORDER BY created DESC, rowid DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [delivery_row(*row) for row in rows]

    def delivery_log(self, *, project: str | None = None) -> list[tuple[str, str, str, str]]:
        """``(id, target, outcome, detail)`` in order (of one project, or of all), for tests
        and inspection."""
        where, args = ("", ()) if project is None else ("WHERE project=?", (project,))
        return [
            (i, t, o, d or "")
            for i, t, o, d in self._db.execute(
                f"SELECT id, target, outcome, detail FROM delivery_log {where} ORDER BY seq", args
            )
        ]

    # -- projects -------------------------------------------------------------------------

    def adopt(self, project: str) -> bool:
        """Give the rows of a schema-1 file (the project ``""``) to ``project``, the one
        project of the daemon that opened it, unless it already has rows; whether it did."""
        if not project:
            return False
        with self._transaction() as db:
            has = " UNION ALL ".join(
                f"SELECT 1 FROM {table} WHERE project=?" for table in _PROJECT_TABLES[:4]
            )
            legacy = db.execute(f"{has} LIMIT 1", ("",) * 4).fetchone()
            owned = db.execute(f"{has} LIMIT 1", (project,) * 4).fetchone()
            if legacy is None or owned is not None:
                return False
            for table in _PROJECT_TABLES:
                db.execute(f"UPDATE {table} SET project=? WHERE project=''", (project,))
        return True

    def projects(self) -> list[str]:
        """Every project with state in the file."""
        rows = self._db.execute(
            " UNION ".join(f"SELECT DISTINCT project FROM {t}" for t in _PROJECT_TABLES[:4])
        )
        return sorted(p for (p,) in rows)

    def scoped(self, project: str) -> ProjectStore:
        """This store as one project sees it."""
        return ProjectStore(self, project)


class ProjectStore:
    """One project's view of the state store: every read and write is of that project's rows
    only; silences, the file's health and its writer thread are the store's own (shared)."""

    def __init__(self, store: Store | PgStore, project: str) -> None:
        self.store = store
        self.project = project
        # Alert ids are unique per file and project: two projects with the same rule and key
        # names must never send the same id.
        self.id_salt = f"{store.id_salt}/{project}" if project else store.id_salt
        #: In a fleet: the lease this daemon holds the project by (a ``pgstore.Fence``);
        #: every write then is refused unless the lease is still this daemon's.
        self.fence: Any = None

    @property
    def _writes(self) -> dict[str, Any]:
        """The keywords of a write: the project, and the fence when there is one."""
        if self.fence is None:
            return {"project": self.project}
        return {"project": self.project, "fence": self.fence}

    @property
    def path(self) -> str:
        return self.store.path

    @property
    def healthy(self) -> bool:
        return self.store.healthy

    @property
    def last_error(self) -> str | None:
        return self.store.last_error

    @property
    def file_problem(self) -> str | None:
        return self.store.file_problem

    def verify_file(self) -> str | None:
        return self.store.verify_file()

    def prune(self, now: float) -> None:
        self.store.prune(now)

    async def run(
        self, method: Callable[..., T], *args: Any, priority: int = URGENT, **kwargs: Any
    ) -> T:
        return await self.store.run(method, *args, priority=priority, **kwargs)

    def load_engine_state(self) -> dict[str, Any] | None:
        return self.store.load_engine_state(project=self.project)

    def checkpoint(self, snapshot: Mapping[str, Any], *, full: bool = True) -> None:
        self.store.checkpoint(snapshot, full=full, **self._writes)

    def compact(self) -> None:
        self.store.compact()

    def record_alerts(
        self,
        rows: Iterable[OutboxRow],
        tracks: Iterable[TrackRow],
        now: float,
    ) -> None:
        self.store.record_alerts(rows, tracks, now, **self._writes)

    def record_batches(
        self,
        batches: Iterable[Batch],
        groups: Iterable[GroupRow] = (),
    ) -> None:
        self.store.record_batches(batches, groups, **self._writes)

    def save_groups(self, rows: Iterable[GroupRow]) -> None:
        self.store.save_groups(rows, **self._writes)

    def load_groups(self) -> list[tuple[str, str, dict[str, Any]]]:
        return self.store.load_groups(project=self.project)

    def pending(self, target: str | None = None, limit: int = -1) -> list[OutboxItem]:
        return self.store.pending(target, limit, project=self.project)

    def fail_pending(self, target: str, reason: str, now: float) -> int:
        return self.store.fail_pending(target, reason, now, **self._writes)

    def pending_counts(self) -> dict[str, int]:
        return self.store.pending_counts(project=self.project)

    def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
        self.store.record_attempts(records, **self._writes)

    def attempt(self, item_id: str, target: str, outcome: str, detail: str, **kw: Any) -> None:
        self.store.attempt(item_id, target, outcome, detail, **self._writes, **kw)

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.store.deliveries(status, limit, project=self.project)

    def delivery_log(self) -> list[tuple[str, str, str, str]]:
        return self.store.delivery_log(project=self.project)
