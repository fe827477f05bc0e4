"""Process faults: kill -9 at random points; a full disk, a read-only state file, an
unwritable state path (real filesystems: tests/filesystems.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from pxrules.daemon.service import Daemon, RunOptions
from pxrules.daemon.store import Store
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..filesystems import fill, read_only_view, small_filesystem
from ..helpers import until
from ..receiver import Receiver

KILLS = 20


def rules_for(sim: Simulator, rx: Receiver) -> str:
    return (
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
        "rules: [{name: seen, keys: ['k/*'], when: {above: 0}, notify: [hook]}]\n"
    )


@pytest.mark.timeout(240)
async def test_kill_9_at_random_points_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    produced: list[str] = []
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_for(sim, rx), encoding="utf-8")
        state = tmp_path / "state.db"

        async def produce() -> None:
            i = 0
            while True:
                key = f"k/{i}"
                produced.append(key)
                await sim.set(key, "1")  # each new key fires one alert
                i += 1
                await asyncio.sleep(0.02)

        producer = asyncio.ensure_future(produce())
        try:
            for _ in range(KILLS):
                daemon = await DaemonProc(rules, state).start()
                await asyncio.sleep(rng.uniform(0.05, 0.8))  # kill at a random point
                daemon.kill()
                assert await daemon.wait_exit() == -signal.SIGKILL
            final = await DaemonProc(rules, state).start()
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        expected = set(produced)
        await rx.requests.wait_for(lambda r: {x.json()["key"] for x in r} >= expected, 60)
        await final.wait_metric_at_most("pxrules_outbox_depth", 0)
        assert await final.stop() == 0
    per_key = Counter(r.json()["key"] for r in rx.requests.items)
    assert set(per_key) == expected  # zero lost
    duplicates = sum(count - 1 for count in per_key.values())
    assert duplicates <= KILLS and max(per_key.values()) <= 2, per_key.most_common(3)
    # a duplicate is the same notification again (same id), never a new one
    ids_per_key = {k: {r.json()["id"] for r in rx.requests.items if r.json()["key"] == k}
                   for k in per_key}  # fmt: skip
    assert all(len(ids) == 1 for ids in ids_per_key.values())


async def run_in_process(rules: Path, tmp_path: Path) -> tuple[Daemon, asyncio.Future[int]]:
    daemon = Daemon(RunOptions(rules_path=rules, state_path=str(tmp_path / "s.db")))
    task = asyncio.ensure_future(daemon.run())
    while not daemon.connected:
        await asyncio.sleep(0.01)
    return daemon, task


async def test_a_full_disk_keeps_alerting_and_recovers_when_space_is_freed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real full filesystem (a small tmpfs, filled up): every alert is still delivered from
    memory, /healthz says degraded and why; once space is freed the state file is written
    again and the daemon is healthy."""
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_for(sim, rx), encoding="utf-8")
        with small_filesystem(tmp_path / "disk", "4m") as disk:
            daemon, task = await run_in_process(rules, disk)
            try:
                filler = fill(disk)
                for i in range(100):
                    await sim.set(f"k/{i}", "1" * 200)
                await rx.requests.wait_for(lambda r: len(r) == 100, 30)  # alerting goes on
                assert "database or disk is full" in caplog.text
                await until(lambda: daemon.health()[1]["status"] == "degraded")
                assert "full" in daemon.health()[1]["state_file"]
                filler.unlink()
                await sim.set("k/after", "1")
                await rx.requests.wait_for(lambda r: len(r) == 101)
                await until(lambda: daemon.health()[1]["status"] == "ok")
            finally:
                daemon.stop()
                assert await task == 0


async def test_a_state_file_on_a_read_only_filesystem_is_left_alone_and_alerting_goes_on(
    tmp_path: Path,
) -> None:
    """A valid state file seen through a real read-only mount: not taken for a corrupt file
    (nothing renamed or written), the daemon alerts from memory and says why."""
    kept = tmp_path / "state"
    kept.mkdir()
    Store.open(kept / "s.db").close()
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_for(sim, rx), encoding="utf-8")
        with read_only_view(kept, tmp_path / "ro") as ro:
            daemon = await DaemonProc(rules, ro / "s.db").start()
            await sim.set("k/1", "1")
            await rx.requests.wait_for(lambda r: len(r) == 1)
            code, body = await daemon.get("/healthz")
            health = json.loads(body)
            assert code == 200 and health["status"] == "degraded"
            assert health["state_file"].startswith(f"error: cannot open {ro / 's.db'}")
            assert "readonly" in health["state_file"] or "read-only" in health["state_file"]
            assert await daemon.stop() == 0
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before
    assert any("IN MEMORY ONLY" in m for m in daemon.messages())
    assert not any("unreadable" in m or "corrupt" in m for m in daemon.messages())


async def test_unwritable_state_path_runs_in_memory(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_for(sim, rx), encoding="utf-8")
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where a directory should be")
        daemon = DaemonProc(rules, blocker / "state.db")
        await daemon.start()
        await sim.set("k/1", "1")
        await rx.requests.wait_for(lambda r: len(r) == 1)
        code, body = await daemon.get("/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "degraded"
        assert health["state_file"].startswith(f"error: cannot open {blocker / 'state.db'}")
        assert await daemon.stop() == 0
    assert any("IN MEMORY ONLY" in m for m in daemon.messages())


async def test_a_second_daemon_on_the_same_state_file_exits_2_naming_the_first(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    """Two daemons on one state file would deliver every alert twice: the second refuses."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f'source: {{url: "{sim.url}", api_key: "{API_KEY}"}}\n'
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
        "rules: [{name: hot, key: t, when: {above: 30}, notify: [hook]}]\n"
    )
    first = await DaemonProc(rules, tmp_path / "s.db").start()
    second = DaemonProc(rules, tmp_path / "s.db")
    await second.start(wait_connected=False)
    assert await second.wait_exit() == 2
    assert first.proc is not None
    assert any(
        f"s.db is in use by another pxrules daemon (PID {first.proc.pid})" in m
        for m in second.messages()
    ), second.messages()
    await sim.set("t", "31")  # the first one goes on alone: one delivery
    await until(lambda: rx.to("/hook"))
    assert len(rx.to("/hook")) == 1
    assert await first.stop() == 0
    third = await DaemonProc(rules, tmp_path / "s.db").start()  # released at exit
    assert await third.stop() == 0


async def test_kill_9_during_the_first_attempt_redelivers_the_same_notification(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    """Killed at a chosen point, not a random one: the first delivery attempt is in flight (the
    receiver holds it unanswered). The outbox row must already be committed — that is the
    crash-safety rule — so the restarted daemon sends the same notification (same id) again."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f'source: {{url: "{sim.url}", api_key: "{API_KEY}"}}\n'
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}', timeout: 30s}}}}}}\n"
        "rules: [{name: hot, key: t, when: {above: 30}, notify: [hook]}]\n"
    )
    state = tmp_path / "s.db"
    daemon = await DaemonProc(rules, state).start()
    rx.open.clear()  # requests are recorded, not answered
    await sim.set("t", "31")
    await until(lambda: rx.to("/hook"))
    first = rx.to("/hook")[0].json()
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)  # the daemon is still running
    try:
        rows = db.execute("SELECT id, status FROM outbox WHERE target='hook'").fetchall()
    finally:
        db.close()
    assert rows == [(first["id"], "pending")]  # committed before the attempt began
    daemon.kill()
    assert await daemon.wait_exit() == -signal.SIGKILL
    rx.open.set()
    daemon = await DaemonProc(rules, state).start()
    await until(lambda: len(rx.to("/hook")) == 2)
    await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
    assert await daemon.stop() == 0
    again = rx.to("/hook")[1].json()
    assert again["id"] == first["id"] and again == first  # the very same notification
