"""Event → webhook latency through `pxrules run`, beside bare Socket.IO delivery, in one run.

    .venv/bin/python bench/latency.py [ALERTS] [RATE ...]

A simulator process emits ALERTS events (each on a new key, so each fires a rule) at RATE per
second, stamped with the send time. A bare python-socketio client and a `pxrules run`
subprocess (webhook to a receiver in this process) receive them; both latencies are measured
against the same stamps on the same machine clock. Each rate is a separate run; the first
(100 alerts/s, far above a real alert load) is the one the target is judged on, the others
show the queueing when the 2 cores are saturated (the simulator, the bare client and the
receiver, and the daemon's event loop and store thread all run on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HookLatency, free_port, percentile, save, start_driver

KEY = "bench-key"


async def measure(n: int, rate: float) -> dict[str, float]:
    bare_latency: list[float] = []
    receiver = await HookLatency(n).start()
    webhook_latency, got_all, rx_port = receiver.latency, receiver.done, receiver.port

    sim_port = free_port()
    driver = await start_driver(sim_port, KEY, n, rate, clients=2, prefix="lat/")
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(
            f"source: {{url: 'http://127.0.0.1:{sim_port}', api_key: {KEY}, snapshot: false}}\n"
            f"notifiers: {{hook: {{webhook: {{url: 'http://127.0.0.1:{rx_port}/hook'}}}}}}\n"
            "rules: [{name: lat, keys: ['lat/*'], when: {above: 0}, notify: [hook]}]\n"
        )
        daemon = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pxrules",
            "run",
            str(rules),
            "--state",
            f"{tmp}/s.db",
            "--log-level",
            "error",
        )
        client = socketio.AsyncClient(reconnection=False)

        @client.on("setData")
        async def on_set(data: dict[str, str]) -> None:
            bare_latency.append(time.time() - float(data["value"]))

        await client.connect(
            f"http://127.0.0.1:{sim_port}", auth={"apiKey": KEY}, transports=["websocket"]
        )
        try:
            await asyncio.wait_for(got_all.wait(), timeout=60 + n / max(rate, 1))
        finally:
            await client.disconnect()
            daemon.terminate()
            await daemon.wait()
            driver.kill()
            await driver.wait()
            await receiver.stop()
    ms = lambda v: v * 1000  # noqa: E731
    return {
        "alerts": n,
        "rate": rate,
        "bare_p50_ms": ms(percentile(bare_latency, 50)),
        "bare_p99_ms": ms(percentile(bare_latency, 99)),
        "webhook_p50_ms": ms(percentile(webhook_latency, 50)),
        "webhook_p99_ms": ms(percentile(webhook_latency, 99)),
        "added_p50_ms": ms(percentile(webhook_latency, 50) - percentile(bare_latency, 50)),
        "added_p99_ms": ms(percentile(webhook_latency, 99) - percentile(bare_latency, 99)),
    }


async def main(n: int, rates: list[float]) -> None:
    runs = [await measure(n, rate) for rate in rates]
    print(
        f"{'alerts/s':>8} {'n':>6} {'bare p50':>9} {'bare p99':>9} {'hook p50':>9}"
        f" {'hook p99':>9} {'added p50':>10} {'added p99':>10}   (ms)"
    )
    columns = ("bare_p50_ms", "bare_p99_ms", "webhook_p50_ms", "webhook_p99_ms")
    for r in runs:
        cells = " ".join(f"{r[c]:>9.2f}" for c in columns)
        print(
            f"{r['rate']:>8.0f} {r['alerts']:>6.0f} {cells}"
            f" {r['added_p50_ms']:>10.2f} {r['added_p99_ms']:>10.2f}"
        )
    print(f"target: added p99 <= 5 ms at {rates[0]:.0f} alerts/s")
    save("latency", {**runs[0], "runs": runs})


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            main(
                int(sys.argv[1]) if len(sys.argv) > 1 else 5000,
                [float(r) for r in sys.argv[2:]] or [100.0, 500.0],
            )
        )
