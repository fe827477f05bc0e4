"""What a hostile burst costs a running daemon: RSS and state file, before and after.

    .venv/bin/python bench/bounds.py [KEYS] [BACKLOG]

keys: KEYS keys of 10 KB each (half of them watched by a rule) are set, then all removed; the
daemon's RSS and the state file's size are printed after each step, and 10 s later, once the
checkpoints are quiet again (the file also after a stop, so its last checkpoint is in).
backlog: BACKLOG notifications queue for a webhook that refuses connections; the daemon's RSS
with them all written and pending. Runs `python -m pxrules run` as a process, from the current
directory: `cd <another checkout> && PYTHONPATH=. <this venv>/bin/python <this>/bench/bounds.py`
measures that checkout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port

from pxrules.testing.simulator import Simulator

KEY = "bounds-key"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def file_mib(state: Path) -> float:
    return sum(p.stat().st_size for p in state.parent.glob(state.name + "*")) / 2**20


class Daemon:
    def __init__(self, rules: Path, state: Path) -> None:
        self.rules, self.state, self.port = rules, state, free_port()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pxrules", "run", str(self.rules), "--state", str(self.state),
            "--http", f"127.0.0.1:{self.port}", "--log-level", "error",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self.metric("pxrules_connected", 1)

    async def metric(self, name: str, at_least: float, **labels: str) -> None:
        deadline = time.monotonic() + 300
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/metrics") as r:
                        text = await r.text()
                    values = [
                        s.value
                        for family in text_string_to_metric_families(text)
                        for s in family.samples
                        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
                    ]
                    if values and values[0] >= at_least:
                        return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(name)

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        await self.proc.wait()


async def started(
    tmp: Path, sim: Simulator, rules_body: str, rows: list[tuple[str, float, float]]
) -> tuple[Daemon, Path]:
    """A daemon on ``rules_body`` (the source added), its first row taken."""
    rules, state = tmp / "rules.yaml", tmp / "s.db"
    rules.write_text(f"source: {{url: '{sim.url}', api_key: {KEY}}}\n" + rules_body)
    daemon = Daemon(rules, state)
    await daemon.start()
    rows.append(("started", rss_mib(daemon.proc.pid), file_mib(state)))
    return daemon, state


async def keys(n: int) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator(api_key=KEY) as sim:
            rules = "rules: [{name: hot, keys: ['sensor/*'], when: {above: 50}}]\n"
            daemon, state = await started(Path(tmp), sim, rules, rows)
            value = "1" + "x" * 10_000
            for i in range(n):
                await sim.set(f"{'sensor' if i % 2 else 'other'}/{i}", value)
            await daemon.metric("pxrules_engine_events_total", n)
            await asyncio.sleep(6)  # a checkpoint
            rows.append((f"{n:,} keys set", rss_mib(daemon.proc.pid), file_mib(state)))
            for i in range(n):
                await sim.remove(f"{'sensor' if i % 2 else 'other'}/{i}")
            await daemon.metric("pxrules_engine_events_total", 2 * n)
            await asyncio.sleep(6)  # a checkpoint
            rows.append(("all removed", rss_mib(daemon.proc.pid), file_mib(state)))
            await asyncio.sleep(10)  # quiet checkpoints after the burst
            rows.append(("  10 s later", rss_mib(daemon.proc.pid), file_mib(state)))
            await daemon.stop()
            rows.append(("stopped", 0.0, file_mib(state)))
    return rows


async def backlog(n: int) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Simulator(api_key=KEY) as sim:
            rules = (
                f"notifiers: {{hook: {{webhook: {{url: 'http://127.0.0.1:{free_port()}/x'}}}}}}\n"
                "rules: [{name: c, keys: ['k/*'], when: {changed: true}, notify: [hook]}]\n"
            )
            daemon, state = await started(Path(tmp), sim, rules, rows)
            for i in range(n):
                await sim.set(f"k/{i}", "1")
                await sim.set(f"k/{i}", "2")
            await daemon.metric("pxrules_alerts_total", n, rule="c", state="firing")
            await daemon.metric("pxrules_outbox_depth", n - 1)  # all written (one in flight)
            await asyncio.sleep(6)  # a checkpoint
            rows.append((f"{n:,} pending", rss_mib(daemon.proc.pid), file_mib(state)))
            await asyncio.sleep(10)  # quiet checkpoints after the burst
            rows.append(("  10 s later", rss_mib(daemon.proc.pid), file_mib(state)))
            await daemon.stop()
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    pending = int(sys.argv[2]) if len(sys.argv) > 2 else 49_000
    where = os.environ.get("PYTHONPATH") or "this checkout"
    print(f"pxrules from {where}")
    print(f"{'step':<22}{'RSS MiB':>10}{'state MiB':>11}")
    for name, rss, size in asyncio.run(keys(n)) + asyncio.run(backlog(pending)):
        print(f"{name:<22}{rss:>10.0f}{size:>11.1f}")


if __name__ == "__main__":
    main()
