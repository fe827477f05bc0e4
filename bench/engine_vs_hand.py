"""RuleSet.apply vs a hand-written dict-and-if loop: the same 1,000 threshold rules with edge
detection, the same events, in one process. The alerts of both are checked to be equal.

    .venv/bin/python bench/engine_vs_hand.py [EVENTS]
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from reactivex.scheduler import HistoricalScheduler
from reactivex.subject import Subject

from pxrules.alerts import Alert
from pxrules.engine import RuleSet
from pxrules.events import Event, parse_number

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, save

RULES = 1000
THRESHOLDS = {f"k/{i}": 50 + (i % 40) for i in range(RULES)}
RULE_OF = {f"k/{i}": f"r{i}" for i in range(RULES)}


def make_events(n: int) -> list[Event]:
    rng = random.Random(9)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for _ in range(n):
        value = f"{rng.uniform(0, 100):.1f}"
        out.append(Event("set", f"k/{rng.randrange(RULES)}", value, at, parse_number(value)))
    return out


def hand_written(events: list[Event]) -> list[tuple[str, str, str | None, str]]:
    """What a user would write: a threshold per key, a firing flag per key, and on each edge
    the alert a notifier needs (rule, key, state, value, time, title, message)."""
    firing: dict[str, bool] = {}
    since: dict[str, str] = {}
    out: list[dict[str, object]] = []
    for event in events:
        threshold = THRESHOLDS.get(event.key)
        if threshold is None or event.number is None:
            continue
        above = event.number > threshold
        if above != firing.get(event.key, False):
            firing[event.key] = above
            at = event.at.isoformat()
            if above:
                since[event.key] = event.at.astimezone().isoformat(sep=" ", timespec="seconds")
            rule, state = RULE_OF[event.key], "firing" if above else "resolved"
            out.append({
                "rule": rule, "key": event.key, "state": state, "value": event.value,
                "number": event.number, "at": at, "since": since[event.key],
                "title": f"{rule} {state}: {event.key} = {event.value}",
                "message": f"{event.key} is {event.value} (since {since[event.key]})",
            })  # fmt: skip
    return [(str(a["key"]), str(a["state"]), a["value"], str(a["title"])) for a in out]  # type: ignore[misc]


def with_pxrules(events: list[Event], ruleset: RuleSet) -> list[tuple[str, str, str | None, str]]:
    subject: Subject[Event] = Subject()
    got: list[Alert] = []
    ruleset.apply(subject, HistoricalScheduler(initial_clock=events[0].at)).subscribe(got.append)
    for event in events:
        subject.on_next(event)
    return [(a.key, a.state, a.value, a.title) for a in got]


def main(n: int, rounds: int = 7) -> None:
    events = make_events(n)
    text = "rules:\n" + "".join(
        f"  - {{name: r{i}, key: k/{i}, when: {{above: {t}}}, resolve: true}}\n"
        for i, t in enumerate(THRESHOLDS.values())
    )
    ruleset = RuleSet.from_text(text)
    best, got = interleaved(
        {"hand": lambda: hand_written(events), "pxrules": lambda: with_pxrules(events, ruleset)},
        rounds,
    )
    hand_time, px_time, hand, px = best["hand"], best["pxrules"], got["hand"], got["pxrules"]
    assert px == hand, "pxrules and the hand-written loop disagree"
    ratio = hand_time / px_time
    print(f"{'implementation':<28} {'events/s':>12}")
    print(f"{'hand-written dict loop':<28} {n / hand_time:>12,.0f}")
    print(f"{'pxrules RuleSet.apply':<28} {n / px_time:>12,.0f}")
    print(f"best of {rounds} interleaved rounds; same {len(px):,} alerts")
    print(f"ratio pxrules / hand-written: {ratio:.3f} (target >= 0.2)")
    save(
        "engine_vs_hand",
        {
            "events": n,
            "hand_per_s": n / hand_time,
            "pxrules_per_s": n / px_time,
            "ratio": ratio,
            "alerts": len(px),
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
