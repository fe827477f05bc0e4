"""PxServ-side faults: silent connections, server down at start, restarts, a revoked key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pxrules.events import Event
from pxrules.source import ConnectionState, ConnectionStatus, PxServSource
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY, FAST
from ..daemon_proc import DaemonProc, served_at
from ..helpers import Collector
from ..proxy import SilenceableProxy
from ..receiver import Receiver

PING_INTERVAL, PING_TIMEOUT = 1.0, 1.0


async def test_a_silent_connection_is_detected_and_replaced() -> None:
    async with (
        Simulator(api_key=API_KEY, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT) as sim,
        SilenceableProxy(sim.port) as proxy,
    ):
        states: Collector[ConnectionStatus] = Collector()
        got: Collector[Event] = Collector()
        source = PxServSource(api_key=API_KEY, url=f"http://127.0.0.1:{proxy.port}", backoff=FAST)
        source.status.subscribe(states)
        source.events.subscribe(got)
        async with source:
            await source.wait_connected()
            loop = asyncio.get_running_loop()
            silenced_at = loop.time()
            proxy.silence()  # no pings, no FIN: only the ping timeout can tell
            await states.wait_for(
                lambda s: [x.state for x in s].count(ConnectionState.CONNECTED) >= 2, timeout=15
            )
            replaced_after = loop.time() - silenced_at
            await sim.set("after", "1")
            await got.wait_for(lambda evs: any(e.key == "after" for e in evs))
    # The only real-time bound here is the library's own ping timer: generous margin.
    assert replaced_after <= PING_INTERVAL + PING_TIMEOUT + 3.0, replaced_after
    assert ConnectionState.DISCONNECTED in [s.state for s in states.items]


async def test_daemon_started_while_the_server_is_down(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        await sim.pause()
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
            f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
            "rules: [{name: hot, key: t, when: {above: 30}, notify: [hook]}]\n"
        )
        daemon = DaemonProc(rules, tmp_path / "s.db")
        await daemon.start(wait_connected=False)
        line = await daemon.wait_log(lambda m: m.startswith("serving http://"))
        daemon.health_url = served_at(line)
        await daemon.wait_log(lambda m: m.startswith("cannot connect to "))
        code, body = await daemon.get("/healthz")
        assert code == 503 and json.loads(body)["connection"] in ("disconnected", "connecting")
        sim.set_quietly("t", "35")
        await sim.resume()
        await rx.requests.wait_for(lambda r: len(r) == 1, timeout=30)
        assert rx.requests.items[0].json()["value"] == "35"
        assert await daemon.stop() == 0


async def test_server_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim:
        got: Collector[Event] = Collector()
        async with PxServSource(api_key=API_KEY, url=sim.url, backoff=FAST) as source:
            source.events.subscribe(got)
            await source.wait_connected()
            for i in range(20):
                await sim.set(f"k{i}", "1")
                if i == 9:
                    await sim.pause()  # the server process dies; writes go on meanwhile
                if 9 <= i < 15:
                    sim.set_quietly(f"k{i}", "1")
                if i == 14:
                    await sim.resume()
                    await source.wait_connected()
            await got.wait_for(lambda evs: {e.key for e in evs} >= {f"k{i}" for i in range(20)})


async def test_revoked_key_is_retried_slowly_and_reported(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
            "rules: [{name: hot, key: t, when: {above: 30}}]\n"
        )
        daemon = await DaemonProc(rules, tmp_path / "s.db").start()
        sim.api_key = "rotated-key"  # the old key is revoked …
        await sim.disconnect_all()  # … and the server drops the session
        await daemon.wait_log(lambda m: "refuses the API key now" in m)
        code, body = await daemon.get("/healthz")
        health = json.loads(body)
        assert code == 503
        assert (health["connection"], health["reason"]) == ("refused", "Invalid API key.")
        refusals = sim.refusals
        assert await daemon.stop() == 0
        assert refusals == 1  # long backoff: no hammering with a key that was refused
