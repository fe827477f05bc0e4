"""State in PostgreSQL (``--state postgresql://…``): the same guarantees as the SQLite file, on
a real server of the test run's own (tests/conftest.py ``postgres``): outbox rows survive a
reopen until marked, checkpoints round-trip, projects never see each other's rows, one daemon
per database, and a database that goes away and comes back loses nothing that was written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pxrules.daemon.pgstore import PgStore, redact
from pxrules.daemon.store import StateFileRefused, StoreError
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY, Postgres
from .daemon_proc import DaemonProc
from .helpers import poll
from .proxy import SilenceableProxy
from .receiver import Receiver, Reply


def test_outbox_rows_survive_a_reopen_until_marked_delivered(pg_url: str) -> None:
    store = PgStore.open(pg_url)
    doc = {"rule": "hot", "key": "t", "state": "firing"}
    store.record_alerts([("a1", "hook", "hook", doc), ("a1", "log", "log", doc)],
                        [("hot", "t", {"phase": "firing"})], 5.0, project="p")  # fmt: skip
    store.attempt("a1", "log", "delivered", "logged", status="delivered", attempts=1,
                  next_attempt=5.0, now=5.0, project="p")  # fmt: skip
    store.close()
    store = PgStore.open(pg_url)
    try:
        assert [(i.id, i.target, i.document) for i in store.pending(project="p")] == [
            ("a1", "hook", doc)
        ]
        assert store.pending(project="q") == []
        assert store.delivery_log(project="p") == [("a1", "log", "delivered", "logged")]
        state = store.load_engine_state(project="p")
        assert state is not None and state["tracks"]["hot"]["t"] == {"phase": "firing"}
        assert store.pending_counts() == {"hook": 1}
        (row,) = store.deliveries(project="p")
        assert (row["project"], row["id"], row["status"], row["rule"]) == (
            "p", "a1", "pending", "hot",
        )  # fmt: skip
    finally:
        store.close()


def test_checkpoints_full_and_incremental_and_projects_apart(pg_url: str) -> None:
    store = PgStore.open(pg_url)
    try:
        a, b = store.scoped("a"), store.scoped("b")
        a.checkpoint({"values": {"k": ["1", None, False, 1.0, None]},
                      "tracks": {"r": {"k": {"phase": "pending"}}}}, full=True)  # fmt: skip
        b.checkpoint({"values": {"k": ["2", None, False, 1.0, None]}, "tracks": {}}, full=True)
        a.checkpoint({"values": {"k": None, "j": ["3", None, False, 2.0, None]}, "tracks": {}},
                     full=False)  # fmt: skip
        state_a, state_b = a.load_engine_state(), b.load_engine_state()
        assert state_a is not None and set(state_a["values"]) == {"j"}
        assert state_a["tracks"] == {"r": {"k": {"phase": "pending"}}}
        assert state_b is not None and state_b["values"]["k"][0] == "2"
        b.checkpoint({"values": {}, "tracks": {}}, full=True)
        assert b.load_engine_state() is None and a.load_engine_state() is not None
        assert store.projects() == ["a"]
        assert a.id_salt == f"{store.id_salt}/a" and len(store.id_salt) == 16
    finally:
        store.close()


def test_groups_silences_and_pruning(pg_url: str) -> None:
    store = PgStore.open(pg_url)
    try:
        store.save_groups([("ops", "g1", {"alerts": 1}), ("ops", "g2", {"alerts": 2})],
                          project="p")  # fmt: skip
        store.save_groups([("ops", "g1", None)], project="p")
        assert store.load_groups(project="p") == [("ops", "g2", {"alerts": 2})]
        now = time.time()
        store.save_silence("s1", now + 60, {"id": "s1"})
        store.save_silence("s1", now + 120, {"id": "s1", "comment": "longer"})
        store.save_silence("old", now - 10 * 86400, {"id": "old"})
        assert store.load_silences(now) == [{"id": "s1", "comment": "longer"}]
        store.prune(now)
        assert store.load_silences(now - 20 * 86400) == [{"id": "s1", "comment": "longer"}]
    finally:
        store.close()


def test_one_daemon_per_database_the_second_is_told_who_holds_it(pg_url: str) -> None:
    first = PgStore.open(pg_url)
    try:
        held = r"in use by another pxrules daemon \(.* PID \d+\)"
        with pytest.raises(StateFileRefused, match=held):
            PgStore.open(pg_url)
    finally:
        first.close()
    PgStore.open(pg_url).close()  # free again once the first is gone


def test_the_password_never_shows(pg_url: str) -> None:
    assert redact("postgresql://me:s3cret@db.example:5432/px") == (
        "postgresql://me:***@db.example:5432/px"
    )
    with pytest.raises(StoreError) as refused:
        PgStore.open("postgresql://me:s3cret@127.0.0.1:1/px?connect_timeout=1")
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)


def test_a_database_that_goes_away_fails_writes_then_takes_them_again() -> None:
    server = Postgres()  # its own: this test stops it
    try:
        url = server.url()
        store = PgStore.open(url)
        store.record_alerts([("a1", "hook", "hook", {})], [], 1.0, project="p")
        server.stop()
        with pytest.raises(StoreError):
            store.record_alerts([("a2", "hook", "hook", {})], [], 2.0, project="p")
        assert store.healthy is False and store.last_error
        server.start()
        store.record_alerts([("a2", "hook", "hook", {})], [], 2.0, project="p")  # reconnects
        assert store.healthy is True
        assert [i.id for i in store.pending(project="p")] == ["a1", "a2"]
        store.close()
    finally:
        server.remove()


def rules_text(sim: Simulator, rx: Receiver) -> str:
    return (
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
        "rules: [{name: hot, key: t, when: {above: 70}, resolve: true, notify: [hook]}]\n"
    )


async def test_the_daemon_on_postgresql_restarts_from_it_and_resumes_its_outbox(
    pg_url: str, sim: Simulator, tmp_path: Path
) -> None:
    async with Receiver({"/hook": [Reply(503)] * 3}) as rx:
        rules = tmp_path / "greenhouse.yaml"
        rules.write_text(rules_text(sim, rx), encoding="utf-8")
        daemon = await DaemonProc(rules, pg_url).start()  # type: ignore[arg-type]
        await sim.set("t", "75")
        await rx.requests.wait_for(lambda r: len(r) >= 1)  # failing: pending in the database
        second = DaemonProc(rules, pg_url)  # type: ignore[arg-type]
        await second.start(wait_connected=False)
        assert await second.wait_exit() == 2
        assert any("in use by another pxrules daemon" in m for m in second.messages())
        assert await daemon.stop(timeout=30) == 0
        daemon = await DaemonProc(rules, pg_url).start()  # type: ignore[arg-type]
        try:
            await rx.requests.wait_for(lambda r: any(x.path == "/hook" for x in r[3:]), 30)
            await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
            await sim.set("t", "50")  # it knows the alert fires: this resolves it
            await rx.requests.wait_for(
                lambda r: any(x.json()["state"] == "resolved" for x in r), 20
            )
        finally:
            assert await daemon.stop() == 0
    bodies = [json.loads(r.body) for r in rx.to("/hook")]
    assert [b["state"] for b in bodies[3:]] == ["firing", "resolved"]
    assert len({b["id"] for b in bodies if b["state"] == "firing"}) == 1  # the same firing
    everything = "\n".join(daemon.raw)
    assert "password" not in everything


async def test_alerting_goes_on_while_the_database_is_away(sim: Simulator, tmp_path: Path) -> None:
    """Fail open: with PostgreSQL stopped, alerts are still delivered (from memory) and
    /healthz says degraded; once it is back, the state is written again and all is well."""
    server = Postgres()  # its own: this test stops it
    try:
        async with Receiver() as rx:
            rules = tmp_path / "greenhouse.yaml"
            rules.write_text(rules_text(sim, rx), encoding="utf-8")
            daemon = await DaemonProc(rules, server.url()).start()  # type: ignore[arg-type]
            try:
                server.stop()
                await sim.set("t", "75")
                await rx.requests.wait_for(lambda r: len(r) == 1)  # delivered all the same
                _, body = await daemon.get("/healthz")
                health = json.loads(body)
                assert health["status"] == "degraded"
                assert health["state_file"].startswith("error: ")
                server.start()
                await sim.set("t", "50")
                await rx.requests.wait_for(lambda r: len(r) == 2)

                async def healthy() -> bool:
                    return json.loads((await daemon.get("/healthz"))[1])["status"] == "ok"

                await poll(healthy, 20)
            finally:
                assert await daemon.stop() == 0
        assert [r.json()["state"] for r in rx.to("/hook")] == ["firing", "resolved"]
        store = PgStore.open(server.url())
        try:  # the state written once the database was back: the alert resolved
            state = store.load_engine_state(project="greenhouse")
            assert state is not None and state["tracks"]["hot"]["t"]["phase"] == "inactive"
        finally:
            store.close()
    finally:
        server.remove()


async def test_a_cut_network_fails_a_write_in_bounded_time_and_the_store_reconnects(
    postgres: Postgres, pg_url: str
) -> None:
    """A partition (the proxy in front of PostgreSQL swallows everything, new connections
    too): the write blocked on it fails once the watchdog's timeout passes, instead of hanging
    the store's thread for TCP's minutes; healed, the next write reconnects."""
    database = urlsplit(pg_url).path.lstrip("/")
    socket_file = f"{postgres.folder}/.s.PGSQL.5432"
    async with SilenceableProxy(target_unix=socket_file) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"
        store = await asyncio.to_thread(PgStore.open, url, io_timeout=1.0)
        try:
            await asyncio.to_thread(store.record_alerts, [("a1", "hook", "hook", {})], [], 1.0)
            proxy.cut()
            with pytest.raises(StoreError):
                await asyncio.to_thread(store.record_alerts, [("a2", "hook", "hook", {})], [], 2.0)
            assert store.healthy is False and store._watchdog.fired == 1
            proxy.heal()
            await asyncio.to_thread(store.record_alerts, [("a2", "hook", "hook", {})], [], 2.0)
            assert store.healthy is True
            assert [i.id for i in await asyncio.to_thread(store.pending)] == ["a1", "a2"]
        finally:
            await asyncio.to_thread(store.close)
