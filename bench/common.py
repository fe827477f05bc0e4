"""Shared pieces of the benchmarks: free ports, child processes, percentiles, the table."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_driver(port: int, key: str, n: int, rate: float, clients: int, prefix: str = "k/"):  # type: ignore[no-untyped-def]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / "sim_driver.py"),
        str(port),
        key,
        str(n),
        str(rate),
        str(clients),
        prefix,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    return proc


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def save(section: str, data: dict[str, Any]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = data
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def interleaved(
    fns: dict[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Run each function ``rounds`` times, alternating between them, and keep each one's best
    wall time and last result. On a shared machine the load changes by the second: alternating
    puts both sides of a ratio under the same conditions, and the best round is the one least
    disturbed by others."""
    best = dict.fromkeys(fns, float("inf"))
    results: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


class HookLatency:
    """A webhook receiver on 127.0.0.1 that records, for each alert document it gets, the
    seconds since the stamp (``time.time()`` at emit) its ``value`` carries; ``done`` is set
    once ``expected`` have come."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.latency: list[float] = []
        self.done = asyncio.Event()
        self.port = 0
        self._runner: Any = None

    async def _hook(self, request: Any) -> Any:
        from aiohttp import web

        doc = await request.json()
        self.latency.append(time.time() - float(doc["value"]))
        if len(self.latency) >= self.expected:
            self.done.set()
        return web.Response(text="ok")

    async def start(self) -> HookLatency:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()
