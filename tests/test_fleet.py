"""The fleet (docs/scaling.md): daemons on one PostgreSQL share the projects, each project
owned by one live daemon through a lease whose epoch fences its writes; a daemon that dies,
pauses, loses the database or leaves has its projects taken over — with every alert delivered,
and duplicates only for a delivery in flight (same id). Real daemons, a real PostgreSQL, one
simulator serving every project's key, one receiver."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from pxrules.testing.simulator import Simulator

from .conftest import Postgres
from .daemon_proc import DaemonProc
from .fleet_harness import TTL, Fleet, Readings, deliveries, key_of, tally, write_projects
from .helpers import poll
from .proxy import SilenceableProxy
from .receiver import Receiver

NAMES = [f"p{i:02d}" for i in range(30)]


def simulator() -> Simulator:
    return Simulator(api_key=key_of(NAMES[0]), api_keys=[key_of(n) for n in NAMES[1:]])


async def test_projects_spread_fairly_a_joiner_takes_its_share_and_sigterm_hands_over(
    pg_url: str, tmp_path: Path
) -> None:
    """30 projects on 3 daemons: 10 each; `fleet status` says so; a silence set on one holds on
    all; a fourth daemon takes its share; one stopped with SIGTERM hands its projects over in
    seconds, and whoever has p00 then resolves what fired before."""
    async with simulator() as sim, Receiver() as rx:
        fleet = Fleet(write_projects(tmp_path / "rules", NAMES, sim, rx), pg_url)
        await asyncio.gather(*(fleet.start() for _ in range(3)))
        try:
            await fleet.settled(30, 3)
            assert sorted(fleet.owners().values()) == [10, 10, 10]
            code, out, _ = await pxrules("fleet", "status", "--state", pg_url, "--format", "json")
            status = json.loads(out)
            assert code == 0 and len(status["members"]) == 3
            assert Counter(p["owner"] for p in status["projects"]) == fleet.owners()
            assert all(p["epoch"] >= 1 and 0 < p["lease_expires_in"] <= TTL and p["pending"] == 0
                       for p in status["projects"])  # fmt: skip
            code, out, _ = await pxrules("fleet", "status", env={"PXRULES_STATE": pg_url})
            assert code == 0 and "3 member(s)" in out and "30 project(s)" in out
            for member in fleet.owners():
                assert re.search(rf"^{re.escape(member)} .* 10$", out, re.M), out
            # A silence set through one member holds on every member.
            status, made = await fleet.daemons[0].request(
                "POST", "/api/v1/silences", {"matchers": {"project": "p29"}, "duration": "1h"}
            )
            assert status == 200

            async def shared() -> bool:
                lists = [(await d.request("GET", "/api/v1/silences"))[1] for d in fleet.daemons]
                return all(made["id"] in {s["id"] for s in got["silences"]} for got in lists)

            await poll(shared, 10)
            fourth = await fleet.start()
            await fleet.settled(30, 4)  # nobody above ceil(30/4) = 8
            assert fleet.owners()[await fleet.member(fourth)] >= 6
            await sim.project(key_of("p00")).set("t", "75")
            await rx.requests.wait_for(lambda r: len(r) == 1)
            leaving = fleet.daemons[0]
            gone = await fleet.member(leaving)
            theirs = {p for p, (o, _, _) in fleet.leases().items() if o == gone}
            said = len(leaving.messages())  # its hand-overs at the fourth's join came before
            assert await leaving.stop() == 0
            await fleet.settled(30, 3)
            assert not theirs & {p for p, (o, _, _) in fleet.leases().items() if o == gone}
            # Handed over (released), not taken over once its leases expired: at once. How
            # long it takes is bench/failover.py's (SIGTERM rows).
            handed = [m.split()[1].rstrip(":") for m in leaving.messages()[said:]
                      if ": handed over (epoch" in m]  # fmt: skip
            assert sorted(handed) == sorted(theirs)
            assert not any(f"taken over from {gone}" in m
                           for d in fleet.live() for m in d.messages())  # fmt: skip
            await sim.project(key_of("p00")).set("t", "50")  # whoever has p00 now resolves it
            await rx.requests.wait_for(lambda r: len(r) == 2)
        finally:
            assert await fleet.stop_all() == [0, 0, 0]
    assert [(d["project"], d["state"]) for d in deliveries(rx)] == [
        ("p00", "firing"), ("p00", "resolved")]  # fmt: skip


async def test_kill_9_while_alerts_fire_the_survivors_deliver_every_one(
    pg_url: str, tmp_path: Path
) -> None:
    """Ten kills (seeded): each time six of the victim's projects and three others flip, the
    victim is killed a random moment later, and a new daemon replaces it. Every notification
    arrives; a duplicate only for one a victim sent before it died (same id)."""
    rng = random.Random(20261129)
    async with simulator() as sim, Receiver() as rx:
        fleet = Fleet(write_projects(tmp_path / "rules", NAMES, sim, rx), pg_url)
        readings = Readings(sim, NAMES)
        await asyncio.gather(*(fleet.start() for _ in range(3)))
        kills: list[float] = []
        try:
            await fleet.settled(30, 3)
            for _ in range(10):
                owners = fleet.leases()
                held = fleet.owners()
                live = {await fleet.member(d): d for d in fleet.live()}
                member = max((m for m in live if held[m]), key=lambda m: (held[m], m))
                victim = live[member]
                theirs = sorted(p for p, (o, _, ok) in owners.items() if o == member and ok)
                others = sorted(set(NAMES) - set(theirs))
                chosen = rng.sample(theirs, min(6, len(theirs))) + rng.sample(others, 3)
                await readings.flip(*chosen)
                await asyncio.sleep(rng.uniform(0, 0.08))  # the kill lands anywhere in the work
                victim.kill()
                kills.append(time.monotonic())
                await victim.wait_exit()
                await fleet.start()
                await rx.requests.wait_for(lambda _: readings.check(rx), 30)
            await fleet.settled(30, 3)
        finally:
            await fleet.stop_all()
    seen, duplicates = tally(rx)
    assert readings.lost(rx) == [] and readings.check(rx) and readings.states_in_order(rx)
    killed = {d for d in fleet.daemons if d.proc is not None and d.proc.returncode == -9}
    assert len(killed) == len(kills) == 10
    for (project, state, ident), count in seen.items():
        if count == 1:
            continue
        # In flight at a kill: sent by a daemon that was killed before it marked it delivered,
        # then sent again by the project's next owner. So of the copies, at most one comes
        # from a daemon that was never killed (each logs what it delivered; a killed one may
        # have died before its line).
        line = f"{project}: delivered {state} of rule "
        senders = [d for d in fleet.daemons for e in d.logs.items
                   if str(e.get("message", "")).startswith(line)
                   and f"id {ident})" in str(e["message"])]  # fmt: skip
        survivors = [d for d in senders if d not in killed]
        if len(survivors) > 1:
            times = [r.at for r in rx.to("/hook") if r.json()["id"] == ident
                     and r.json()["state"] == state]  # fmt: skip
            explain(fleet, project, times, kills)
            raise AssertionError(
                f"{project} {state} {ident} sent {count} times, {len(survivors)} of them by "
                "daemons never killed: see stdout"
            )
    print(
        f"kill -9 x{len(kills)}: sent {readings.sent}, delivered {len(seen)}, "
        f"duplicates {duplicates}, lost {len(readings.lost(rx))}"
    )


async def test_a_paused_daemon_loses_its_projects_and_sends_and_writes_nothing_for_them(
    pg_url: str, tmp_path: Path
) -> None:
    """SIGSTOP past the TTL: the others take its projects over (higher epochs) and deliver
    what changes meanwhile. SIGCONT: it finds its leases gone by its own clock and the
    database, delivers nothing for them, and its writes for them are refused; then it
    rejoins and takes a share again."""
    async with simulator() as sim, Receiver() as rx:
        fleet = Fleet(write_projects(tmp_path / "rules", NAMES, sim, rx), pg_url)
        readings = Readings(sim, NAMES)
        await asyncio.gather(*(fleet.start() for _ in range(3)))
        try:
            await fleet.settled(30, 3)
            paused = fleet.daemons[0]
            member = await fleet.member(paused)
            before = fleet.leases()
            theirs = sorted(p for p, (o, _, _) in before.items() if o == member)
            await readings.flip(*theirs[:3])  # delivered by it, before the pause
            await rx.requests.wait_for(lambda _: readings.check(rx), 20)

            async def marked() -> bool:  # the deliveries marked too: nothing is in flight
                return await fleet.pending_async() == 0

            await poll(marked, 10)
            assert paused.proc is not None
            paused.proc.send_signal(signal.SIGSTOP)

            async def taken() -> bool:
                now = fleet.leases()
                return all(now[p][0] not in (None, member) and now[p][2] for p in theirs)

            await poll(taken, TTL * 4)
            assert all(fleet.leases()[p][1] > before[p][1] for p in theirs)  # new epochs
            await readings.flip(*theirs)  # while it sleeps: the new owners deliver them
            await rx.requests.wait_for(lambda _: readings.check(rx), 20)
            delivered = len(rx.to("/hook"))
            resumed = datetime.now(UTC).isoformat(timespec="milliseconds")
            paused.proc.send_signal(signal.SIGCONT)
            await paused.wait_log(lambda m: "its lease may have expired" in m
                                  or "another daemon's now" in m)  # fmt: skip
            await fleet.settled(30, 3)  # it rejoined and took a share again
            fenced = await paused.metric("pxrules_fleet_fenced_writes_total")
        finally:
            await fleet.stop_all()
    after = [str(e["message"]) for e in paused.logs.items if str(e.get("time")) >= resumed]
    for project in theirs:  # nothing delivered for a lost project before it had a new lease
        taken_again = [i for i, m in enumerate(after) if m.startswith(f"project {project}: lease")]
        retaken = taken_again[0] if taken_again else len(after)
        assert not any(m.startswith(f"{project}: delivered") for m in after[:retaken]), project
    assert len(rx.to("/hook")) == delivered  # nothing more arrived after SIGCONT
    _, duplicates = tally(rx)
    assert duplicates == 0 and readings.check(rx)
    print(
        f"SIGSTOP: sent {readings.sent}, delivered {len(tally(rx)[0])}, duplicates 0, "
        f"lost 0, fenced writes refused {fenced:.0f}"
    )


async def test_postgresql_stopped_for_20s_alerting_goes_on_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """The database down for everyone (stopped 20 s, then started): every daemon fails open
    — keeps evaluating and delivering from memory — no lease changes hands (a restarted server
    lets the owners renew first), nobody crashes, and the outboxes drain."""
    server = Postgres()  # its own: this test stops it
    try:
        async with simulator() as sim, Receiver() as rx:
            fleet = Fleet(write_projects(tmp_path / "rules", NAMES, sim, rx), server.url())
            readings = Readings(sim, NAMES)
            await asyncio.gather(*(fleet.start() for _ in range(3)))
            try:
                await fleet.settled(30, 3)
                epochs = fleet.leases()
                await readings.flip(*NAMES[:10])
                await rx.requests.wait_for(lambda _: readings.check(rx), 20)
                server.stop()
                stopped = time.monotonic()

                async def failing_open() -> bool:
                    modes = [(await fleet.health(d))["fleet"]["mode"] for d in fleet.daemons]
                    return modes == ["fail-open"] * 3

                await poll(failing_open, 10)
                await readings.flip(*NAMES[5:20])  # during the outage: delivered all the same
                await rx.requests.wait_for(lambda _: readings.check(rx), 20)
                await asyncio.sleep(max(0.0, 20 - (time.monotonic() - stopped)))  # 20 s down
                await readings.flip(*NAMES[15:30])
                server.start()
                await rx.requests.wait_for(lambda _: readings.check(rx), 20)

                async def members_again() -> bool:
                    modes = [(await fleet.health(d))["fleet"]["mode"] for d in fleet.daemons]
                    return modes == ["member"] * 3

                await poll(members_again, 20)
                await fleet.settled(30, 3)
                assert fleet.leases() == {p: (o, e, True) for p, (o, e, _) in epochs.items()}
                await readings.flip(*NAMES[::3])  # and after it
                await rx.requests.wait_for(lambda _: readings.check(rx), 20)
                for daemon in fleet.daemons:
                    await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
                assert all(d.proc is not None and d.proc.returncode is None for d in fleet.daemons)
            finally:
                codes = await fleet.stop_all()
            assert codes == [0, 0, 0]
            with psycopg.connect(server.url(), autocommit=True) as db:
                pending = db.execute(
                    "SELECT count(*) FROM pxrules_outbox WHERE status = 'pending'"
                ).fetchone()
            assert pending == (0,)
        seen, duplicates = tally(rx)
        assert readings.check(rx) and duplicates == 0
        print(
            f"PostgreSQL stopped 20 s: sent {readings.sent}, delivered {len(seen)}, "
            f"duplicates {duplicates}, lost {len(readings.lost(rx))}"
        )
    finally:
        server.remove()


async def test_the_database_blackholed_for_one_daemon_it_steps_down_and_the_others_take_over(
    postgres: Postgres, pg_url: str, tmp_path: Path
) -> None:
    """A partition between one daemon and the database (a proxy that swallows everything):
    its leases run out by its own clock, it stops those projects and says so in /healthz
    (503, mode cut-off); the others take them over and deliver — the cut-off daemon delivers
    nothing for them after that; healed, it rejoins."""
    database = urlsplit(pg_url).path.lstrip("/")
    async with simulator() as sim, Receiver() as rx, \
            SilenceableProxy(target_unix=f"{postgres.folder}/.s.PGSQL.5432") as proxy:  # fmt: skip
        fleet = Fleet(write_projects(tmp_path / "rules", NAMES, sim, rx), pg_url)
        readings = Readings(sim, NAMES)
        cut = await fleet.start(f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}")
        await asyncio.gather(*(fleet.start() for _ in range(2)))
        try:
            await fleet.settled(30, 3)
            member = await fleet.member(cut)
            theirs = sorted(p for p, (o, _, _) in fleet.leases().items() if o == member)
            proxy.cut()
            began = time.monotonic()

            async def stepped_down() -> bool:
                body = await fleet.health(cut)
                return body["fleet"]["mode"] == "cut-off" and body["projects"] == []

            await poll(stepped_down, TTL * 4)
            stepped = time.monotonic() - began
            status, _ = await cut.get("/healthz")
            assert status == 503
            await fleet.settled(30, 2)
            assert not {p for p, (o, _, _) in fleet.leases().items() if o == member}
            taken = {p: min(first_time(d, f"project {p}: taken over from {member}")
                            for d in fleet.daemons if d is not cut) for p in theirs}  # fmt: skip
            await readings.flip(*theirs)
            await rx.requests.wait_for(lambda _: readings.check(rx), 20)
            # The cut-off daemon delivered nothing for a project once another had taken it
            # (its lease had run out by its own clock: the check before every delivery).
            for project in theirs:
                sent = f"{project}: delivered"
                sends = [str(e["time"]) for e in cut.logs.items
                         if str(e.get("message", "")).startswith(sent)]  # fmt: skip
                late = [at for at in sends if at >= taken[project]]
                assert late == [], (project, taken[project], late)
            proxy.heal()
            await fleet.settled(30, 3)
            await readings.flip(*theirs)
            await rx.requests.wait_for(lambda _: readings.check(rx), 20)
        finally:
            assert await fleet.stop_all() == [0, 0, 0]
    _, duplicates = tally(rx)
    assert duplicates == 0 and readings.check(rx)
    print(
        f"blackholed: stepped down {stepped:.1f} s after the cut (TTL {TTL:g} s); sent "
        f"{readings.sent}, delivered {len(tally(rx)[0])}, duplicates 0, lost 0"
    )


def explain(fleet: Fleet, project: str, times: list[float], kills: list[float]) -> None:
    """What every daemon said about ``project``, for a failure's report."""
    print(f"copies at {times}; kills at {kills}")
    for daemon in fleet.daemons:
        print(f"-- daemon {daemon.proc.pid if daemon.proc else '?'}")
        for entry in daemon.logs.items:
            message = str(entry.get("message", ""))
            if project in message or "late" in message:
                print(entry.get("time"), entry.get("level"), message[:160])


def first_time(daemon: DaemonProc, start: str) -> str:
    """When the daemon first logged a line starting so ("~" after any time: never)."""
    return min((str(e["time"]) for e in daemon.logs.items
                if str(e.get("message", "")).startswith(start)), default="~")  # fmt: skip


async def test_fleet_status_of_a_database_it_cannot_reach_exits_2() -> None:
    code, _, err = await pxrules(
        "fleet", "status", "--state", "postgresql://me:s3cret@127.0.0.1:1/px?connect_timeout=1"
    )
    assert code == 2 and "cannot connect to postgresql://me:***@127.0.0.1:1/px" in err
    assert "s3cret" not in err
    code, _, err = await pxrules("fleet", "status", "--state", "state.db")
    assert code == 2 and "postgresql://" in err


async def pxrules(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pxrules", *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
