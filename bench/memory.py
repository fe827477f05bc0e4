"""Memory per tracked key: RSS after 100,000 distinct keys through 10 glob rules, minus before.

    .venv/bin/python bench/memory.py [KEYS]

Runs in this process; events are generated one at a time so only the engine's state grows.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reactivex.scheduler import HistoricalScheduler

from pxrules.engine import Engine, RuleSet
from pxrules.events import Event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save

RULES = """
rules:
  - {name: g0, keys: ['k/*'], when: {above: 90}}
  - {name: g1, keys: ['k/*'], when: {below: 5}, for: 1m}
  - {name: g2, keys: ['k/*'], when: {above: 80}, clear: {below: 50}, resolve: true}
  - {name: g3, keys: ['k/1*'], when: {above: 70}}
  - {name: g4, keys: ['k/2*'], when: {changed_by: 30}}
  - {name: g5, keys: ['k/3*', 'k/4*'], when: {at_most: 1}}
  - {name: g6, keys: ['k/*0'], when: {above: 99}, repeat: 1h}
  - {name: g7, keys: ['k/*1'], when: {not: {below: 100}}}
  - {name: g8, keys: ['k/?????'], when: {equals: 42}}
  - {name: g9, keys: ['x/*'], when: {above: 1}}
"""


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))


def events(n: int) -> Iterator[Event]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(n):
        yield Event("set", f"k/{i}", "50.0", start + timedelta(milliseconds=i), 50.0)


def main(n: int) -> None:
    ruleset = RuleSet.from_text(RULES)
    scheduler = HistoricalScheduler(initial_clock=datetime(2025, 1, 1, tzinfo=UTC))
    engine = Engine(ruleset, scheduler, lambda alert: None)
    gc.collect()
    before = rss_kib()
    for event in events(n):
        engine.on_event(event)
    gc.collect()
    after = rss_kib()
    per_key = (after - before) * 1024 / n
    tracks = sum(len(t) for t in engine.tracks.values())
    print(
        f"{n:,} keys, 10 glob rules: RSS {before / 1024:.1f} → {after / 1024:.1f} MiB, "
        f"{per_key:,.0f} bytes per key (target <= 1024); alert tracks kept: {tracks:,}"
    )
    save("memory", {"keys": n, "bytes_per_key": per_key, "tracks": tracks})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
