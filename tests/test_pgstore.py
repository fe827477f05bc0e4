"""State in PostgreSQL (``--state postgresql://…``): the same guarantees as the SQLite file, on
a real server of the test run's own (tests/conftest.py ``postgres``): outbox rows survive a
reopen until marked, checkpoints round-trip, projects never see each other's rows, the fleet's
leases fence stale writers, and a database that goes away and comes back loses nothing that was
written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from pxrules.daemon.pgstore import Fence, Member, PgStore, _says_down, redact
from pxrules.daemon.store import AttemptRecord, FencedWrite, StoreError
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


def test_leases_one_owner_each_a_fair_share_and_a_stale_epoch_is_fenced(pg_url: str) -> None:
    """The fleet's table logic on its own: the first member takes every project; a second one
    finds none free and the first learns it holds two beyond its share and hands them over; a
    write with the old epoch is refused and counted; an expired lease of a dead member is
    taken over with a higher epoch, naming the member it came from."""
    a, b = PgStore.open(pg_url), PgStore.open(pg_url)
    me_a, me_b = Member("a", "host-a", 1, "v"), Member("b", "host-b", 2, "v")
    names = ["p1", "p2", "p3", "p4", "p5"]
    try:
        tick = a.fleet_tick(me_a, 60, names, {})
        assert tick.acquired == [(p, 1, None) for p in names] and tick.members == 1
        tick = b.fleet_tick(me_b, 60, names, {})
        assert tick.acquired == [] and (tick.members, tick.projects) == (2, 5)
        tick = a.fleet_tick(me_a, 60, names, dict.fromkeys(names, 1))
        assert tick.renewed == dict.fromkeys(names, 1) and tick.excess == 2  # share: 3
        assert a.release("p4", Fence("a", 1)) and a.release("p5", Fence("a", 1))
        assert not a.release("p5", Fence("a", 1))  # not twice
        tick = b.fleet_tick(me_b, 60, names, {})
        assert tick.acquired == [("p4", 2, None), ("p5", 2, None)]
        row = ("n1", "hook", "hook", {"state": "firing"})
        with pytest.raises(FencedWrite, match="no longer this daemon's"):
            a.record_alerts([row], [], 1.0, project="p4", fence=Fence("a", 1))
        assert a.fenced == 1 and a.pending(project="p4") == []
        b.record_alerts([row], [], 1.0, project="p4", fence=Fence("b", 2))
        assert [i.id for i in b.pending(project="p4")] == ["n1"]
        with pytest.raises(FencedWrite):  # the mark of a delivery too
            a.record_attempts([AttemptRecord("n1", "hook", "delivered", "", "delivered", 1, 0, 2)],
                              project="p4", fence=Fence("a", 1))  # fmt: skip
        with psycopg.connect(pg_url, autocommit=True) as db:  # member a dies: all runs out
            db.execute("UPDATE pxrules_members SET heartbeat = now() - interval '1 hour' "
                       "WHERE id = 'a'")  # fmt: skip
            db.execute("UPDATE pxrules_leases SET expires = now() - interval '1 second' "
                       "WHERE owner = 'a'")  # fmt: skip
            up = db.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())")
            time.sleep(max(0.0, 1.1 - float(up.fetchone()[0])))  # type: ignore[index]
        tick = b.fleet_tick(me_b, 1, names, {"p4": 2, "p5": 2})
        assert tick.acquired == [("p1", 2, "a"), ("p2", 2, "a"), ("p3", 2, "a")]
        assert a.fleet_tick(me_a, 1, names, {"p1": 1, "p2": 1, "p3": 1}).renewed == {}
        status = a.fleet_status()
        assert [(p["project"], p["owner"], p["epoch"]) for p in status["projects"]] == [
            ("p1", "b", 2),
            ("p2", "b", 2),
            ("p3", "b", 2),
            ("p4", "b", 2),
            ("p5", "b", 2),
        ]
        assert [p["pending"] for p in status["projects"]] == [0, 0, 0, 1, 0]
        assert {m["id"] for m in status["members"]} == {"a", "b"}
    finally:
        a.close()
        b.close()


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
        # A second daemon on the database joins the fleet: the one project is the first's.
        second = DaemonProc(rules, pg_url)  # type: ignore[arg-type]
        await second.start(wait_connected=False)
        await second.wait_log(lambda m: m.startswith("fleet member "))
        assert await daemon.stop(timeout=30) == 0  # SIGTERM: the project is handed over
        await second.wait_log(lambda m: m.startswith("connected to "))
        await second.stop()
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


@pytest.mark.parametrize(
    ("error", "down"),
    [
        ('connection to server on socket "/tmp/x/.s.PGSQL.5432" failed: No such file or '
         "directory", True),
        ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', True),
        ("FATAL: the database system is shutting down", True),
        ("FATAL: the database system is starting up", True),
        ("FATAL: terminating connection due to administrator command", True),
        ("connection timeout expired", False),
        ("FATAL: sorry, too many clients already", False),
        ("canceling statement due to statement timeout", False),
        ('FATAL: password authentication failed for user "px"', False),
    ],
)  # fmt: skip
def test_a_database_is_down_for_everyone_only_when_it_says_so(error: str, down: bool) -> None:
    """Down for everyone (the fleet fails open) only on what a stopped, restarting or crashed
    server answers; anything else may be this daemon's problem alone (it steps down)."""
    assert _says_down(error) is down
