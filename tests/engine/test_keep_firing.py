"""`keep_firing_for`: stay firing after the resolve condition; re-triggering cancels."""

from .harness import rule, run

KEEP = rule("key: humidity\nwhen: {above: 70}\nkeep_firing_for: 1m\nresolve: true")


def test_resolves_after_keep_firing_for() -> None:
    steps = [(0, "humidity", "71"), (10, "humidity", "60")]
    assert run(KEEP, steps) == [(0, "firing", "humidity", "71"), (70, "resolved", "humidity", "60")]


def test_retrigger_cancels_the_countdown() -> None:
    steps = [
        (0, "humidity", "71"),
        (10, "humidity", "60"),
        (40, "humidity", "80"),
        (50, "humidity", "60"),
    ]
    assert run(KEEP, steps) == [
        (0, "firing", "humidity", "71"),
        (110, "resolved", "humidity", "60"),
    ]
