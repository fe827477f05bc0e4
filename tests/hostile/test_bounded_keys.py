"""Finding 3: what pxrules keeps per key is bounded. A removed key is forgotten (memory, the
source's view, the state file); keys no rule watches are not saved; past the key cap the least
recently written keys are forgotten; the state file gives freed pages back."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from reactivex.testing import TestScheduler

from pxrules.engine import Engine, RuleSet
from pxrules.events import Event
from pxrules.source.snapshot import KnownValues
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver

RULES = "rules: [{name: hot, keys: ['sensor/*'], when: {above: 50}}]\n"
AT = datetime(2025, 1, 1, tzinfo=UTC)


def _set(key: str, value: str) -> Event:
    return Event(kind="set", key=key, value=value, at=AT)


def _remove(key: str) -> Event:
    return Event(kind="remove", key=key, value=None, at=AT)


def test_20000_keys_of_10_kb_set_then_removed_leave_nothing_behind() -> None:
    engine = Engine(RuleSet.from_text(RULES), TestScheduler(), lambda a: None, track_changes=True)
    keys = [f"sensor/{n}" if n % 2 else f"other/{n}" for n in range(20_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n, key in enumerate(keys):
            engine.on_event(_set(key, f"{n % 40}" + "x" * 10_000))
        held = tracemalloc.get_traced_memory()[0] - before
        saved = {k for k, v in engine.changes()["values"].items() if v is not None}
        for key in keys:
            engine.on_event(_remove(key))
        after = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held > 200_000_000  # the values themselves, while the keys exist
    assert after < 8_000_000, f"{after:,} bytes still held after every key was removed"
    assert engine.values == {} and engine.ruleset.plans == {}
    # Only the watched keys were worth saving; after the removals every saved row is deleted.
    assert saved == {k for k in keys if k.startswith("sensor/")}
    assert set(engine.changes()["values"].values()) == {None}


def test_past_the_key_cap_the_least_recently_written_keys_are_forgotten() -> None:
    scheduler = TestScheduler()
    engine = Engine(RuleSet.from_text(RULES), scheduler, lambda a: None, max_keys=64)
    for n in range(200):
        scheduler.advance_to(n)
        engine.on_event(Event(kind="set", key=f"k{n}", value="1", at=scheduler.now))
        scheduler.advance_to(n + 0.5)
        engine.on_event(Event(kind="set", key="k0", value="2", at=scheduler.now))  # kept fresh
    assert len(engine.values) <= 64
    assert "k0" in engine.values and "k199" in engine.values
    survivors = sorted(int(k[1:]) for k in engine.values if k != "k0")
    assert survivors == list(range(200 - len(survivors), 200))  # the newest, without a gap
    assert engine.stats.evicted == 200 - len(engine.values)


def test_the_sources_view_forgets_removed_keys_and_is_capped() -> None:
    view = KnownValues(max_keys=32)
    for n in range(100):
        view.saw(f"k{n}", "v")
    view.saw("k99", None)
    assert len(view.known) <= 32 and "k99" not in view.known and "k98" in view.known
    view.begin()
    events = view.diff({"k98": "v"}, AT, print)
    assert {(e.kind, e.key) for e in events} == {("remove", k) for k in view.known} - {
        ("remove", "k98")
    }


async def test_daemon_state_file_keeps_watched_keys_only_and_shrinks_after_removal(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s.db"

    def size() -> int:
        return sum(p.stat().st_size for p in tmp_path.glob("s.db*"))

    def rows() -> list[str]:
        with sqlite3.connect(state) as db:
            return [k for (k,) in db.execute("SELECT key FROM key_values ORDER BY key")]

    async with Simulator(api_key=API_KEY) as sim, Receiver():
        rules = tmp_path / "rules.yaml"
        rules.write_text(f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n" + RULES)
        daemon = await DaemonProc(rules, state).start()
        for n in range(1_500):
            await sim.set(f"sensor/{n}", "1" + "x" * 10_000)
            await sim.set(f"other/{n}", "1" + "y" * 10_000)
        await daemon.wait_metric("pxrules_engine_events_total", 3_000)
        assert await daemon.stop() == 0
        assert rows() == sorted(f"sensor/{n}" for n in range(1_500))
        full = size()
        daemon = await DaemonProc(rules, state).start()
        await daemon.wait_metric("pxrules_snapshots_total", 1)
        for n in range(1_500):
            await sim.remove(f"sensor/{n}")
            await sim.remove(f"other/{n}")
        live = {"origin": "live", "kind": "remove"}
        await daemon.wait_metric("pxrules_events_received_total", 3_000, **live)
        assert await daemon.stop() == 0
    assert rows() == []
    assert full > 15_000_000 and size() < 1_000_000, (full, size())
