"""`for`: the condition must hold continuously; firing is time-driven."""

from reactivex.testing import ReactiveTest, TestScheduler

from pxrules.engine import RuleSet

from .harness import event_at, rule, run

HUMID = rule("key: humidity\nwhen: {above: 70}\nfor: 60s")


def test_broken_before_for_elapses_gives_nothing() -> None:
    # (The example puts the dip at 90 s; docs/semantics.md makes `for` time-driven, so a
    # condition held from 0 s is due at 60 s. The dip must come before 60 s to prevent it.)
    steps = [(0, "humidity", "71"), (30, "humidity", "72"), (50, "humidity", "69")]
    assert run(HUMID, steps, until=1000) == []


def test_time_driven_even_if_the_dip_comes_later() -> None:
    steps = [(0, "humidity", "71"), (30, "humidity", "72"), (90, "humidity", "69")]
    assert run(HUMID, steps) == [(60, "firing", "humidity", "72")]


def test_fires_at_exactly_for_without_a_new_event() -> None:
    got = run(HUMID, [(0, "humidity", "71"), (30, "humidity", "72"), (70, "humidity", "73")])
    # due at 60 s: `value` is the latest value then (72), not the one that arrived at 70 s
    assert got == [(60, "firing", "humidity", "72")]


def test_a_dip_restarts_the_wait() -> None:
    steps = [(0, "humidity", "71"), (40, "humidity", "60"), (50, "humidity", "75")]
    assert run(HUMID, steps) == [(110, "firing", "humidity", "75")]


def test_unknown_value_does_not_interrupt_pending() -> None:
    steps = [(0, "humidity", "71"), (20, "humidity", "ERR"), (30, "humidity", "72")]
    assert run(HUMID, steps) == [(60, "firing", "humidity", "72")]


def test_marble_style_with_hot_observable() -> None:
    scheduler = TestScheduler()
    on_next = ReactiveTest.on_next
    source = scheduler.create_hot_observable(
        on_next(300, event_at(scheduler, 300, "humidity", "71")),
        on_next(330, event_at(scheduler, 330, "humidity", "72")),
    )
    ruleset = RuleSet.from_text(HUMID)
    results = scheduler.start(
        lambda: ruleset.apply(source, scheduler).pipe(),
        created=100,
        subscribed=200,
        disposed=1000,
    )
    assert [(m.time, m.value.value.state, m.value.value.value) for m in results.messages] == [
        (360, "firing", "72")
    ]
