"""Finding 5: SIGSTOP for 10 s, then SIGCONT (any freeze: a VM pause, a laptop lid). What was
written meanwhile is read before time is judged: `for` and `stale` do not fire on values from
before the freeze, every buffered change is delivered, and the connection is kept."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver

FREEZE = 10.0  # seconds; over the 5 s a timer must be late by to count as a clock jump


def _rules(sim: Simulator, rx: Receiver) -> str:
    return (
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
        "rules:\n"
        "  - {name: hot, key: temp, when: {above: 50}, for: 3s, notify: [hook]}\n"
        "  - {name: dead, key: hb, when: {stale: 4s}, notify: [hook]}\n"
        "  - {name: door, key: door, when: {changed: true}, notify: [hook]}\n"
    )


async def _heartbeat(sim: Simulator) -> None:
    while True:
        await sim.set("hb", "1")
        await asyncio.sleep(1.0)


async def test_a_frozen_daemon_judges_what_arrived_while_it_was_stopped(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(_rules(sim, rx))
        daemon = await DaemonProc(rules, tmp_path / "s.db").start()
        # The first snapshot done: the source's watchdog is running from then on.
        await daemon.wait_metric("pxrules_snapshots_total", 1)
        await sim.set("door", "open")
        beat = asyncio.ensure_future(_heartbeat(sim))
        await sim.set("temp", "99")  # pending: fires 3 s from now unless it drops
        await daemon.wait_metric("pxrules_engine_events_total", 3)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(0.5)
            await sim.set("temp", "20")  # dropped while the daemon was stopped
            for n in range(10):
                await sim.set("door", f"state-{n}")
            await asyncio.sleep(FREEZE - 0.5)
        finally:
            daemon.proc.send_signal(signal.SIGCONT)
        await daemon.wait_log(lambda m: m.startswith("timers woke up"))
        await daemon.wait_log(lambda m: m.startswith("this process did not run for"))
        await daemon.wait_metric("pxrules_snapshots_total", 2)  # PxServ re-read after it
        await sim.set("door", "marker")  # delivered after anything the freeze caused
        await rx.requests.wait_for(lambda got: any(r.json()["value"] == "marker" for r in got))
        reconnects = await daemon.metric("pxrules_reconnects_total")
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        assert await daemon.stop() == 0
    got = [(r.json()["rule"], r.json()["value"]) for r in rx.to("/hook")]
    assert got == [("door", f"state-{n}") for n in range(10)] + [("door", "marker")]
    assert reconnects == 0


async def test_the_transport_hands_its_watchdog_to_the_source() -> None:
    """python-engineio's own timeouts (which fire at once after a freeze, before the buffered
    packets are read) are pushed out of the way; the source's watchdog keeps the server's
    allowance. If python-engineio renames what this relies on, this fails."""
    from pxrules.source import PxServSource
    from pxrules.source.transport import HANDED_OVER

    async with Simulator(api_key=API_KEY, ping_interval=1.0, ping_timeout=2.0) as sim:
        source = PxServSource(API_KEY, sim.url)
        async with source:
            await source.wait_connected()
            link = source._link
            assert link is not None
            assert link.client.eio.ping_timeout == 2.0 + HANDED_OVER
            liveness = link.liveness()
            assert liveness is not None and liveness[1] == 3.0 and 0 <= liveness[0] < 3.0
            await sim.set("k", "v")  # packets keep arriving: the link stays
            assert source.stats.reconnects == 0
