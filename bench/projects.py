"""Capacity of one daemon running many projects: event → webhook latency with N projects
(N rules files, N API keys on one simulator) each sending RATE alerts per second.

    .venv/bin/python bench/projects.py SECONDS N:RATE [N:RATE ...] [--daemons=K]

With ``--daemons=K`` (K > 1) K daemons share the projects as a fleet on a local PostgreSQL
(pgserver's), each project run by one of them.

Each event is on a new key, so each fires a rule and is delivered to one local webhook
receiver; the latency is measured against the stamp the simulator put in the value, on the
same machine clock. The target (issue 12): p99 event → webhook at most 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg
from common import BENCH, HookLatency, free_port, percentile, save


async def measure(
    seconds: float, projects: int, rate: float, daemons: int = 1, state: str = ""
) -> dict[str, float]:
    total = int(seconds * rate * projects)
    receiver = await HookLatency(total).start()
    latency, got_all, rx_port = receiver.latency, receiver.done, receiver.port
    sim_port = free_port()
    driver = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH / "projects_driver.py"), str(sim_port), str(projects),
        str(seconds), str(rate), *(["wait"] if state else []),
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert driver.stdout is not None
    assert (await asyncio.wait_for(driver.stdout.readline(), 30)).strip() == b"ready"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "projects"
        folder.mkdir()
        for i in range(projects):
            (folder / f"p{i}.yaml").write_text(
                f"source: {{url: 'http://127.0.0.1:{sim_port}', api_key: p{i}, snapshot: false}}\n"
                f"notifiers: {{hook: {{webhook: {{url: 'http://127.0.0.1:{rx_port}/hook'}}}}}}\n"
                "rules: [{name: fire, keys: ['k/*'], when: {above: 0}, notify: [hook]}]\n"
            )
        started = time.perf_counter()
        command = [sys.executable, "-m", "pxrules", "run", str(folder),
                   "--state", state or f"{tmp}/s.db", "--log-level", "error"]  # fmt: skip
        fleet = [await asyncio.create_subprocess_exec(*command) for _ in range(daemons)]
        try:
            if state:  # a fleet: once every project is owned and none holds beyond its share
                await asyncio.wait_for(spread(state, projects, daemons), 120)
                assert driver.stdin is not None
                driver.stdin.write(b"go\n")
                await driver.stdin.drain()
            await asyncio.wait_for(driver.stdout.readline(), 180)  # "done": all emitted
            await asyncio.wait_for(got_all.wait(), timeout=60)
        finally:
            for daemon in fleet:
                daemon.terminate()
            await asyncio.gather(*(d.wait() for d in fleet))
            driver.kill()
            await driver.wait()
            await receiver.stop()
    ms = lambda v: v * 1000  # noqa: E731
    return {
        "daemons": daemons,
        "projects": projects,
        "rate_per_project": rate,
        "events": total,
        "seconds": time.perf_counter() - started,
        "p50_ms": ms(percentile(latency, 50)),
        "p99_ms": ms(percentile(latency, 99)),
        "max_ms": ms(max(latency)),
    }


async def spread(url: str, projects: int, daemons: int) -> None:
    share = -(-projects // daemons)
    while True:
        with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as db:
            owners = [o for (o,) in db.execute(
                "SELECT owner FROM pxrules_leases WHERE owner IS NOT NULL AND expires > now()"
            ).fetchall()]  # fmt: skip
            counts = [owners.count(o) for o in set(owners)]
            if len(owners) == projects and len(counts) == daemons and max(counts) <= share:
                return
        await asyncio.sleep(0.2)


async def main(seconds: float, loads: list[tuple[int, float]], daemons: int) -> None:
    if daemons == 1:
        runs = [await measure(seconds, n, rate) for n, rate in loads]
    else:  # a fleet: the daemons share the projects through a PostgreSQL of pgserver's
        import pgserver

        folder = os.path.join(tempfile.gettempdir(), f"pxrules-bench-pg-{uuid.uuid4().hex[:8]}")
        server = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            runs = []
            for n, rate in loads:
                url = server.get_uri(f"fleet{len(runs)}")
                with psycopg.connect(server.get_uri(), autocommit=True) as db:
                    db.execute(f"CREATE DATABASE fleet{len(runs)}")
                runs.append(await measure(seconds, n, rate, daemons, url))
        finally:
            server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)
    heads = ("daemons", "projects", "per s each", "events", "p50 ms", "p99 ms", "max ms")
    print(" ".join(f"{h:>{w}}" for h, w in zip(heads, (7, 8, 10, 7, 8, 8, 8), strict=True)))
    for r in runs:
        print(f"{r['daemons']:>7} {r['projects']:>8} {r['rate_per_project']:>10g} "
              f"{r['events']:>7} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['max_ms']:>8.2f}")  # fmt: skip
    print("target: p99 event → webhook <= 50 ms")
    save("projects" if daemons == 1 else "fleet_capacity", {"runs": runs})


if __name__ == "__main__":
    args = sys.argv[1:]
    daemons = 1
    for arg in [a for a in args if a.startswith("--daemons=")]:
        daemons = int(arg.split("=", 1)[1])
        args.remove(arg)
    given = args[1:] or ["100:1", "300:1", "100:5"]
    loads = [(int(a), float(b)) for a, b in (g.split(":") for g in given)]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(float(args[0]) if args else 20.0, loads, daemons))
