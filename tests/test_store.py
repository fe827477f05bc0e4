"""The state file on a real SQLite file: creation, corruption, the outbox, checkpoints, pruning."""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest

from pxrules.daemon import store as store_module
from pxrules.daemon.store import StateFileRefused, Store
from pxrules.engine.state import STATE_VERSION


def test_a_new_state_file_is_private_and_salted(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(store.id_salt) == 16
    finally:
        store.close()
    again = Store.open(path)  # the salt is kept: ids of one file never repeat
    try:
        assert again.id_salt == store.id_salt
    finally:
        again.close()


def corrupt(path: Path) -> None:
    """A real state file, its first page overwritten after the SQLite header."""
    Store.open(path).close()
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xde\xad" * 1500)


def test_a_corrupt_file_is_moved_aside_and_a_clean_one_started(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    corrupt(path)
    store = Store.open(path)
    try:
        assert store.load_engine_state() is None and store.pending() == []
    finally:
        store.close()
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith("s.db.corrupt-")


def test_an_unknown_schema_version_is_treated_like_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    store = Store.open(path)
    try:
        assert store.load_engine_state() is None
    finally:
        store.close()
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_outbox_rows_survive_a_reopen_until_marked_delivered(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    document = {"id": "a1", "rule": "r", "key": "k", "title": "sıcaklık"}
    store.record_alerts([("a1", "hook", "hook", document), ("a1", "log", "log", document)], [], 5.0)
    store.attempt("a1", "log", "delivered", "logged", status="delivered", attempts=1,
                  next_attempt=5.0, now=5.0)  # fmt: skip
    store.close()
    store = Store.open(path)
    try:
        pending = store.pending()
        assert [(i.id, i.target, i.document) for i in pending] == [("a1", "hook", document)]
        assert store.delivery_log() == [("a1", "log", "delivered", "logged")]
    finally:
        store.close()


def test_checkpoints_full_and_incremental_round_trip_through_the_codec(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    try:
        full = {
            "version": STATE_VERSION,
            "values": {"a": ["1", None, False, 10.0, None], "b": ["2", None, False, 11.0, None]},
            "tracks": {"r": {"a": {"phase": "firing", "seq": 2}}},
        }
        store.checkpoint(full, full=True)
        store.checkpoint({"values": {"b": ["3", None, False, 12.0, "2"]}, "tracks": {}}, full=False)
        state = store.load_engine_state()
        assert state == {
            "version": STATE_VERSION,
            "values": {"a": ["1", None, False, 10.0, None], "b": ["3", None, False, 12.0, "2"]},
            "tracks": {"r": {"a": {"phase": "firing", "seq": 2}}},
        }
        store.checkpoint({"values": {"c": ["9", None, False, 13.0, None]}, "tracks": {}})
        assert store.load_engine_state() == {  # a full checkpoint replaces everything
            "version": STATE_VERSION,
            "values": {"c": ["9", None, False, 13.0, None]},
            "tracks": {},
        }
    finally:
        store.close()


def test_prune_keeps_the_newest_delivery_log_rows_and_pending_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "DELIVERY_LOG_ROWS", 5)
    store = Store.open(tmp_path / "s.db")
    try:
        doc = {"id": "x"}
        store.record_alerts([("old", "t", "n", doc), ("new", "t", "n", doc)], [], now=0.0)
        store.record_alerts([("waiting", "t", "n", doc)], [], now=0.0)
        for n, item in enumerate(["old", "new"]):
            store.attempt(item, "t", "delivered", f"d{n}", status="delivered", attempts=1,
                          next_attempt=0.0, now=0.0)  # fmt: skip
        for n in range(8):
            store.attempt("waiting", "t", "retry", f"r{n}", status="pending", attempts=n + 1,
                          next_attempt=0.0, now=0.0)  # fmt: skip
        store.prune(now=store_module.DELIVERED_KEEP_SECONDS + 1.0)
        assert [d for _, _, _, d in store.delivery_log()] == ["r3", "r4", "r5", "r6", "r7"]
        assert [item.id for item in store.pending()] == ["waiting"]
        remaining = store._db.execute("SELECT id FROM outbox ORDER BY id").fetchall()
        assert remaining == [("waiting",)]  # delivered rows older than a week are gone
    finally:
        store.close()


def test_the_engine_state_version_is_the_one_the_store_writes(tmp_path: Path) -> None:
    """One version constant: a state written by the store loads into the engine as is."""
    from reactivex.testing import TestScheduler

    from pxrules.engine import Engine, RuleSet

    store = Store.open(tmp_path / "s.db")
    try:
        store.checkpoint({"values": {"t": ["31", None, False, 0.0, None]}, "tracks": {}})
        state = store.load_engine_state()
        assert state is not None
        ruleset = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 30}}]")
        engine = Engine(ruleset, TestScheduler(), lambda alert: None, state=state)
        assert engine.values["t"].number == 31.0
    finally:
        store.close()


@pytest.mark.parametrize(
    "content",
    [b"rules: [{name: a, key: k, when: {above: 1}}]\n", b"\x00\x01 some binary"],
)
def test_a_file_that_is_not_a_state_file_is_refused_untouched(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(content)
    with pytest.raises(StateFileRefused, match="is not a pxrules state file: refusing to touch it"):
        Store.open(path)
    assert path.read_bytes() == content and sorted(tmp_path.iterdir()) == [path]


def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(StateFileRefused):
        Store.open(path)
    assert path.read_bytes() == before


def test_a_directory_or_an_empty_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateFileRefused, match="is a directory"):
        Store.open(tmp_path)
    with pytest.raises(StateFileRefused, match="use --state none"):
        Store.open("")
    assert list(tmp_path.iterdir()) == []


def test_the_wal_is_copied_back_beside_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer never pays for a checkpoint (it was the tail of the alert latency): a thread
    of the store's own copies the WAL into the database file."""
    monkeypatch.setattr(store_module, "WAL_CHECKPOINT_EVERY", 0.01)
    path = tmp_path / "s.db"
    store = Store.open(path)
    try:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == (
            store_module.WAL_SAFETY_PAGES  # the writer's own is only a safety net
        )
        rows = [(f"id{i}", "hook", "hook", {"n": i}) for i in range(200)]
        store.record_alerts(rows, [], 1.0)
        assert store._wal is not None
        runs = store._wal.runs
        deadline = time.monotonic() + 10
        while store._wal.runs < runs + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The database file alone (immutable: its WAL is not read) has the rows.
        plain = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        assert plain.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 200
        plain.close()
    finally:
        store.close()


#: The schema of state files written before projects (pxrules 0.1, schema 1), as it was.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE key_values (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE tracks (rule TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (rule, key));
CREATE TABLE outbox (id TEXT NOT NULL, target TEXT NOT NULL, notifier TEXT NOT NULL,
    document TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL, status TEXT NOT NULL DEFAULT 'pending', last_error TEXT,
    PRIMARY KEY (id, target));
CREATE INDEX outbox_pending ON outbox (status, created);
CREATE INDEX outbox_target ON outbox (target, status, created);
CREATE TABLE delivery_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
    id TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT);
INSERT INTO meta VALUES ('schema', '1'), ('id_salt', 'abcd');
INSERT INTO key_values VALUES ('t', '["75", null, false, 1.0, null]');
INSERT INTO tracks VALUES ('hot', 't', '{"phase": "firing", "notified": true}');
INSERT INTO outbox (id, target, notifier, document, created, next_attempt)
    VALUES ('a1', 'hook', 'hook', '{"rule": "hot"}', 1.0, 1.0);
INSERT INTO delivery_log (at, id, target, outcome, detail) VALUES (1.0, 'a1', 'hook', 'retry', 'x');
"""


def test_a_schema_1_file_is_upgraded_and_its_rows_go_to_the_daemons_one_project(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.close()
    store = Store.open(path)
    try:
        assert store._meta("schema") == "2" and store.id_salt == "abcd"
        assert store.projects() == [""]
        assert store.adopt("greenhouse") is True
        assert store.adopt("greenhouse") is False  # once
        state = store.load_engine_state(project="greenhouse")
        assert state is not None and state["tracks"]["hot"]["t"]["phase"] == "firing"
        assert state["values"]["t"][0] == "75"
        assert [i.id for i in store.pending(project="greenhouse")] == ["a1"]
        assert store.delivery_log(project="greenhouse") == [("a1", "hook", "retry", "x")]
        assert store.load_engine_state(project="") is None
        view = store.scoped("greenhouse")
        assert view.id_salt == "abcd/greenhouse" and view.pending_counts() == {"hook": 1}
    finally:
        store.close()


def test_a_project_never_reads_or_writes_another_projects_rows(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    try:
        a, b = store.scoped("a"), store.scoped("b")
        a.record_alerts([("x", "hook", "hook", {"n": 1})], [("r", "k", {"phase": "firing"})], 1.0)
        b.record_alerts([("x", "hook", "hook", {"n": 2})], [], 1.0)  # the same id and target
        a.checkpoint({"values": {"k": ["1", None, False, 1.0, None]}, "tracks": {}}, full=False)
        b.checkpoint({"values": {}, "tracks": {}}, full=True)  # replaces only b's state
        assert [i.document for i in a.pending()] == [{"n": 1}]
        assert [i.document for i in b.pending()] == [{"n": 2}]
        state = a.load_engine_state()
        assert state is not None and set(state["values"]) == {"k"} and "r" in state["tracks"]
        assert b.load_engine_state() is None
        assert store.adopt("a") is False  # nothing of before projects to adopt
    finally:
        store.close()
