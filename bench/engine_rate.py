"""Events/second through RuleSet.apply with few and many rules, measured side by side.

    .venv/bin/python bench/engine_rate.py [EVENTS]

The same events on 1,000 keys and the same 10 rules that match them (globs with for, debounce,
hysteresis, stale, an event rule); the larger sets add rules on keys that get no events
(90 % exact keys, 10 % globs). If the index works, those cost nothing per event.
Prints a table; the ratio is what matters.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reactivex.scheduler import HistoricalScheduler

from pxrules.engine import Engine, RuleSet
from pxrules.events import Event, parse_number

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save

MATCHING = """
  - {name: m0, keys: ['sensor-*'], when: {above: 80}}
  - {name: m1, keys: ['sensor-*'], when: {above: 70}, for: 2m, resolve: true}
  - {name: m2, keys: ['sensor-*'], when: {above: 75}, clear: {below: 60}, resolve: true}
  - {name: m3, keys: ['sensor-*'], when: {below: 55}, debounce: 5s}
  - {name: m4, keys: ['sensor-*'], when: {changed_by: 30}, cooldown: 1m}
  - {name: m5, keys: ['sensor-*'], when: {stale: 10m}}
  - {name: m6, keys: ['sensor-1*'], when: {above: 85}, repeat: 10m}
  - {name: m7, keys: ['sensor-2*'], when: {at_most: 51}, keep_firing_for: 30s}
  - {name: m8, keys: ['sensor-3*'], when: {any: [{above: 89}, {below: 51}]}}
  - {name: m9, keys: ['sensor-4*'], when: {not: {above: 52}}, resolve: true}
"""


def generate(total: int) -> str:
    lines = ["rules:", MATCHING.strip("\n")]
    for i in range(total - 10):
        if i % 10 == 0:
            lines.append(f"  - {{name: g{i}, keys: ['zone-{i}/*'], when: {{above: 1}}}}")
        else:
            lines.append(f"  - {{name: x{i}, key: other-{i}, when: {{above: 1}}, for: 1m}}")
    return "\n".join(lines) + "\n"


def make_events(n: int, keys: int = 1000, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        key = f"sensor-{rng.randrange(keys)}"
        value = f"{rng.uniform(50, 90):.1f}"
        at = start + timedelta(milliseconds=10 * i)
        events.append(Event("set", key, value, at, parse_number(value)))
    return events


def rate(rules: int, events: list[Event], repeat: int = 3) -> float:
    ruleset = RuleSet.from_text(generate(rules))
    best = float("inf")
    for _ in range(repeat):
        scheduler = HistoricalScheduler(initial_clock=events[0].at)
        alerts = []
        engine = Engine(ruleset, scheduler, alerts.append)
        t0 = time.perf_counter()
        for event in events:
            if event.at > scheduler.now:
                scheduler.advance_to(event.at)
            engine.on_event(event)
        best = min(best, time.perf_counter() - t0)
    return len(events) / best


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    events = make_events(n)
    results = {count: rate(count, events, repeat=2) for count in (10, 1000, 10_000)}
    # and once more for 10, last, so a warming machine does not favour one side
    results[10] = max(results[10], rate(10, events, repeat=1))
    print(f"{'rules':>8} {'events/s':>12}")
    for count, value in results.items():
        print(f"{count:>8} {value:>12,.0f}")
    ratio = results[10_000] / results[10]
    print(f"ratio 10,000 / 10 rules: {ratio:.2f} (target >= 0.5)")
    save(
        "engine_rate",
        {"events": n, **{f"rules_{k}": v for k, v in results.items()}, "ratio": ratio},
    )
