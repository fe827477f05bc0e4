"""Finding 5: SIGTERM with a backlog on a hung Apprise target ends within the grace period (the
attempt in flight runs in Apprise's own thread; the process does not wait for it), and what was
not delivered stays pending in the state file for the next start."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver, Reply


async def test_sigterm_with_a_hung_apprise_target_exits_within_the_grace(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim, Receiver({"/hang": [Reply(hang=True)]}) as rx:
        url = f"json://127.0.0.1:{rx.port}/hang?rto=60&cto=5"  # one attempt may take a minute
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
            f"notifiers: {{chat: {{apprise: '{url}'}}}}\n"
            "rules: [{name: hot, keys: ['t*'], when: {above: 50}, notify: [chat]}]\n"
        )
        daemon = await DaemonProc(rules, tmp_path / "s.db", "--grace", "1").start()
        for n in range(5):
            await sim.set(f"t{n}", "99")
        await rx.requests.wait_for(lambda got: len(got) == 1)  # the first attempt hangs
        began = time.monotonic()
        assert await daemon.stop(timeout=60) == 0
        took = time.monotonic() - began
    assert took < 8, f"stopping took {took:.1f}s with --grace 1"  # not the 60 s of the attempt
    assert any(m.startswith("exiting without waiting for 1 notifier") for m in daemon.messages())
    with sqlite3.connect(tmp_path / "s.db") as db:
        pending = db.execute("SELECT COUNT(*) FROM outbox WHERE status='pending'").fetchone()[0]
    assert pending == 5
