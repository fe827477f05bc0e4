"""Finding 5: a burst of SIGHUPs while notifications queue on a slow target. Reloads run one at
a time, and changing a notifier's settings keeps its queue and
its attempt in flight: every notification arrives exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver, Reply


def _rules(sim: Simulator, rx: Receiver, timeout: str) -> str:
    return (
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}', timeout: {timeout}}}}}}}\n"
        "rules: [{name: hot, keys: ['t*'], when: {above: 50}, notify: [hook]}]\n"
    )


async def test_sighup_storm_sends_each_notification_once(tmp_path: Path) -> None:
    slow = [Reply(delay=0.15) for _ in range(40)]
    async with Simulator(api_key=API_KEY) as sim, Receiver({"/hook": slow}) as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(_rules(sim, rx, "10s"))
        daemon = await DaemonProc(rules, tmp_path / "s.db").start()
        for n in range(20):
            await sim.set(f"t{n}", "99")
        await rx.requests.wait_for(lambda got: len(got) >= 1)  # the first is in flight
        for n in range(30):  # the notifier's settings change on every other signal
            rules.write_text(_rules(sim, rx, "10s" if n % 2 else "11s"))
            daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
        await rx.requests.wait_for(lambda got: len(got) >= 20, timeout=30)
        await daemon.wait_log(lambda m: m.startswith("reloaded"))
        assert await daemon.stop() == 0
    sent = Counter(r.json()["id"] for r in rx.to("/hook"))
    assert len(sent) == 20 and set(sent.values()) == {1}, sent
    steps = [m.split()[0] for m in daemon.messages() if m.startswith(("reloading ", "reloaded"))]
    assert steps and steps == ["reloading", "reloaded:"] * (len(steps) // 2)  # never overlapping
