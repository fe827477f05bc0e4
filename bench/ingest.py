"""Ingest rate: bare python-socketio client vs PxServSource + RuleSet.apply (1,000 rules).

    .venv/bin/python bench/ingest.py [EVENTS] [ROUNDS]

A server process (bench/fast_server.py: pre-encoded Socket.IO frames, faster than any Python
client can read them) streams EVENTS setData events to one client. Rate is
events / (last receive - first receive) at the client. The clients alternate ROUNDS times and the
best round of each is compared, so machine noise hits both alike. PxServSource runs with
snapshot off (the bench server has no REST API).

Each client runs in a loop of its own (a fresh ``asyncio.Runner``): the bare client as a user
would write it (stock python-socketio on asyncio's default loop), the bare client again on the
loop `pxrules run` uses (uvloop, `--loop auto`), and PxServSource on that loop.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import socketio
from reactivex.scheduler.eventloop import AsyncIOScheduler

from pxrules.cli.loops import loop_factory
from pxrules.engine import RuleSet
from pxrules.source import PxServSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, free_port, save

KEY = "bench-key"
RULES = "rules:\n" + "".join(
    f"  - {{name: r{i}, key: k/{i}, when: {{above: 50}}, clear: {{below: 40}}}}\n"
    for i in range(1000)
)


async def start_server(n: int) -> tuple[int, asyncio.subprocess.Process]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH / "fast_server.py"), str(port), KEY, str(n),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
    return port, proc


async def bare(n: int) -> float:
    port, driver = await start_server(n)
    stamps: list[float] = []
    done = asyncio.Event()
    client = socketio.AsyncClient(reconnection=False)

    @client.on("setData")
    async def on_set(data: dict[str, str]) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) >= n:
            done.set()

    await client.connect(f"http://127.0.0.1:{port}", auth={"apiKey": KEY}, transports=["websocket"])
    await asyncio.wait_for(done.wait(), 300)
    await client.disconnect()
    driver.kill()
    await driver.wait()
    return (n - 1) / (stamps[-1] - stamps[0])


async def pxrules(n: int, ruleset: RuleSet | None) -> tuple[float, int]:
    port, driver = await start_server(n)
    stamps: list[float] = []
    alerts: list[object] = []
    done = asyncio.Event()

    def on_event(_event: object) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) >= n:
            done.set()

    source = PxServSource(api_key=KEY, url=f"http://127.0.0.1:{port}", snapshot=False)
    if ruleset is not None:
        scheduler = AsyncIOScheduler(asyncio.get_running_loop())
        ruleset.apply(source.events, scheduler).subscribe(alerts.append)
    source.events.subscribe(on_event)  # after the engine: the stamp includes rule evaluation
    async with source:
        await asyncio.wait_for(done.wait(), 300)
    driver.kill()
    await driver.wait()
    return (n - 1) / (stamps[-1] - stamps[0]), len(alerts)


def on_loop(factory: Callable[[], asyncio.AbstractEventLoop] | None, main: Any) -> Any:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def main(n: int, rounds: int) -> None:
    ours = loop_factory("auto")  # what `pxrules run` uses
    ours_name = "uvloop" if ours is not None else "asyncio"
    ruleset = RuleSet.from_text(RULES)
    bare_rates, same_rates, source_rates, px_rates = [], [], [], []
    for _ in range(rounds):
        bare_rates.append(on_loop(None, bare(n)))
        same_rates.append(on_loop(ours, bare(n)))
        source_rates.append(on_loop(ours, pxrules(n, None))[0])
        rate, alerts = on_loop(ours, pxrules(n, ruleset))
        px_rates.append(rate)
    b, a2 = max(bare_rates), max(same_rates)
    s, p = max(source_rates), max(px_rates)
    print(f"{'client':<46} {'events/s':>10}")
    print(f"{'(a) bare python-socketio AsyncClient, asyncio':<46} {b:>10,.0f}")
    print(f"{'(a2) the same bare client on ' + ours_name:<46} {a2:>10,.0f}")
    print(f"{'    PxServSource alone, ' + ours_name:<46} {s:>10,.0f}")
    print(f"{'(b) PxServSource + RuleSet.apply (1,000), ' + ours_name:<46} {p:>10,.0f}")
    print(
        f"ratio b/a: {p / b:.2f} (target >= 1.0); b/a2 (same loop): {p / a2:.2f} "
        f"(target >= 0.9); source alone / a: {s / b:.2f}; alerts in the last round: {alerts}"
    )
    save(
        "ingest",
        {
            "events": n, "loop": ours_name, "bare_per_s": b, "bare_same_loop_per_s": a2,
            "source_per_s": s, "pxrules_per_s": p, "ratio": p / b, "ratio_same_loop": p / a2,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 50_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
