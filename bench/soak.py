"""Load and soak runs of `pxrules run` (loopback only, bounded in time). Not part of make test.

    .venv/bin/python bench/soak.py flood [SECONDS] [RATE]   # default 60 s at 5,000 events/s
    .venv/bin/python bench/soak.py soak  [SECONDS]          # default 600 s, disconnect every 30 s

flood: one slow webhook target (answers after 2 s) and one fast one. Reports events sent vs
counted by the daemon, the fast target's alert latency, and the daemon's RSS.
soak: alerts firing throughout and a server-side disconnect every 30 s; samples RSS, open fds
and asyncio tasks every 10 s and prints them as a table.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, free_port, percentile, save

KEY = "load-key"


async def metrics(http: aiohttp.ClientSession, port: int) -> dict[str, float]:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


async def run(mode: str, seconds: float, rate: float) -> None:
    fast_latency: list[float] = []
    slow_count = 0

    async def fast(request: web.Request) -> web.Response:
        doc = await request.json()
        fast_latency.append(time.time() - datetime.fromisoformat(doc["at"]).timestamp())
        return web.Response(text="ok")

    async def slow(request: web.Request) -> web.Response:
        nonlocal slow_count
        await asyncio.sleep(2.0)
        slow_count += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/fast", fast)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    rx = free_port()
    await web.TCPSite(runner, "127.0.0.1", rx).start()

    sim_port, http_port = free_port(), free_port()
    every = 30.0 if mode == "soak" else 0.0
    driver = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH / "load_driver.py"), str(sim_port), KEY, str(rate),
        str(seconds), "1000", str(every), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert driver.stdout is not None
    assert (await driver.stdout.readline()).strip() == b"ready"
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        notify = "[fast, slow]" if mode == "flood" else "[fast]"
        rules.write_text(
            f"source: {{url: 'http://127.0.0.1:{sim_port}', api_key: {KEY}}}\n"
            "notifiers:\n"
            f"  fast: {{webhook: {{url: 'http://127.0.0.1:{rx}/fast'}}}}\n"
            f"  slow: {{webhook: {{url: 'http://127.0.0.1:{rx}/slow', timeout: 30s}}}}\n"
            "rules:\n"
            f"  - {{name: spike, keys: ['k/*'], when: {{above: 99.9}}, notify: {notify}}}\n"
            "  - {name: band, keys: ['k/*'], when: {above: 80}, clear: {below: 20},\n"
            "     resolve: true, cooldown: 30s, notify: [log]}\n"
        )
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pxrules", "run", str(rules), "--state", f"{tmp}/s.db",
            "--http", f"127.0.0.1:{http_port}", "--log-level", "error",
        )  # fmt: skip
        samples: list[dict[str, float]] = []
        start = time.monotonic()
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(2)
            interval = 10.0 if mode == "soak" else 5.0
            while time.monotonic() - start < seconds + 4:
                m = await metrics(http, http_port)
                m["elapsed"] = time.monotonic() - start
                samples.append(m)
                await asyncio.sleep(interval)
            sent_line = await asyncio.wait_for(driver.stdout.readline(), 30)
            sent = int(sent_line.split()[1])
            await asyncio.sleep(2)
            final = await metrics(http, http_port)
        daemon.terminate()
        await daemon.wait()
        driver.kill()
        await driver.wait()
    await runner.cleanup()

    print(
        f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>5} {'tasks':>6} {'events':>9} {'outbox':>7} "
        f"{'reconnects':>10}"
    )
    for s in samples:
        print(
            f"{s['elapsed']:>6.0f} {s.get('process_resident_memory_bytes', 0) / 2**20:>8.1f} "
            f"{s.get('process_open_fds', 0):>5.0f} {s.get('pxrules_asyncio_tasks', 0):>6.0f} "
            f"{s.get('pxrules_events_received_total', 0):>9.0f} "
            f"{s.get('pxrules_outbox_depth', 0):>7.0f} "
            f"{s.get('pxrules_reconnects_total', 0):>10.0f}"
        )
    counted = final.get("pxrules_events_received_total", 0)
    print(
        f"events sent {sent}, received by the daemon {counted:.0f} (after reconnects this "
        "includes snapshot events and misses what was pushed while disconnected)"
    )
    if fast_latency:
        print(
            f"fast target: {len(fast_latency)} alerts, latency p50 "
            f"{percentile(fast_latency, 50) * 1000:.1f} ms, "
            f"p99 {percentile(fast_latency, 99) * 1000:.1f} ms;"
            f" slow target delivered {slow_count}"
        )
    third = max(1, len(samples) // 3)
    rss = [s.get("process_resident_memory_bytes", 0) / 2**20 for s in samples]
    early, late = sum(rss[:third]) / third, sum(rss[-third:]) / third
    print(
        f"RSS first third {early:.1f} MiB, last third {late:.1f} MiB "
        f"({(late / early - 1) * 100:+.1f} %)"
    )
    save(
        mode,
        {
            "seconds": seconds,
            "rate": rate,
            "sent": sent,
            "counted": counted,
            "fast_alerts": len(fast_latency),
            "fast_p99_ms": percentile(fast_latency, 99) * 1000 if fast_latency else None,
            "rss_first_third_mib": early,
            "rss_last_third_mib": late,
        },
    )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "flood"
    default_seconds = 600.0 if mode == "soak" else 60.0
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else default_seconds
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else (5000.0 if mode == "flood" else 500.0)
    asyncio.run(run(mode, seconds, rate))
