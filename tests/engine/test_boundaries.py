"""Each comparison at, just above and just below its threshold; a `for` across a restart (due
meanwhile, or not yet); timers due at the same instant in their documented order. Times are
seconds on a TestScheduler."""

from __future__ import annotations

import json

import pytest
from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet

from .harness import event_at, rule, run


@pytest.mark.parametrize(
    ("condition", "value", "fires"),
    [
        ("above: 70", "70", False), ("above: 70", "70.001", True), ("above: 70", "69.999", False),
        ("below: 30", "30", False), ("below: 30", "29.999", True), ("below: 30", "30.001", False),
        ("at_least: 70", "70", True), ("at_least: 70", "69.999", False),
        ("at_least: 70", "70.001", True),
        ("at_most: 30", "30", True), ("at_most: 30", "30.001", False),
        ("at_most: 30", "29.999", True),
    ],
)  # fmt: skip
def test_each_threshold_at_its_edge(condition: str, value: str, fires: bool) -> None:
    got = run(rule(f"key: t\nwhen: {{{condition}}}"), [(0, "t", value)])
    assert got == ([(0, "firing", "t", value)] if fires else [])


@pytest.mark.parametrize(
    ("second", "fires"),
    [("60", True), ("59.999", False), ("60.001", True), ("40", True), ("40.001", False)],
)
def test_changed_by_is_at_least_the_step_either_way(second: str, fires: bool) -> None:
    got = run(rule("key: t\nwhen: {changed_by: 10}"), [(0, "t", "50"), (10, "t", second)])
    assert got == ([(10, "firing", "t", second)] if fires else [])


FOR = rule("key: t\nwhen: {above: 70}\nfor: 60s")


def _restart_at(seconds: float) -> list[tuple[float, str]]:
    """Pending from 0; saved at 30; restored at ``seconds``; what fires, and when."""
    first = TestScheduler()
    got: list[tuple[float, str]] = []
    engine = Engine(RuleSet.from_text(FOR), first, lambda a: got.append((first.clock, a.state)))
    first.schedule_absolute(0, lambda *_: engine.on_event(event_at(first, 0, "t", "71")))
    first.advance_to(30)
    saved = json.loads(json.dumps(engine.snapshot()))
    engine.dispose()
    second = TestScheduler(initial_clock=seconds)

    def emit(alert: Alert) -> None:
        got.append((second.clock, alert.state))

    Engine(RuleSet.from_text(FOR), second, emit, state=saved)
    second.advance_to(1000)
    return got


def test_a_for_wait_still_running_at_the_restart_keeps_its_time() -> None:
    assert _restart_at(40) == [(60, "firing")]


def test_a_for_wait_that_fell_due_while_stopped_starts_again_from_the_restart() -> None:
    assert _restart_at(100) == [(160, "firing")]  # not at once, on stale information


def test_timers_due_at_one_instant_fire_by_rule_then_key_then_kind() -> None:
    rules = (
        "rules:\n"
        "  - {name: second, keys: ['k/*'], when: {above: 1}, for: 60s}\n"
        "  - {name: first, keys: ['k/*'], when: {above: 1}, for: 60s}\n"
    )
    ruleset = RuleSet.from_text(rules)
    scheduler = TestScheduler()
    got: list[tuple[str, str]] = []
    engine = Engine(ruleset, scheduler, lambda a: got.append((a.rule, a.key)))
    for key in ("k/b", "k/a"):  # seen in this order; both due at 60
        scheduler.schedule_absolute(
            0, lambda *_, k=key: engine.on_event(event_at(scheduler, 0, k, "5"))
        )
    scheduler.advance_to(100)
    # Rule order in the file ("second" is written first), then key, whatever the arrival order.
    assert got == [("second", "k/a"), ("second", "k/b"), ("first", "k/a"), ("first", "k/b")]
