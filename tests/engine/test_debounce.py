"""`debounce`: a burst of events for a key is evaluated once, as its last event."""

from .harness import rule, run

DEB = rule("key: humidity\nwhen: {above: 70}\ndebounce: 5s\nresolve: true")


def test_only_the_last_of_a_burst_is_evaluated() -> None:
    # 71 and 72 never count alone: the burst ends with 60, which does not hold
    steps = [(0, "humidity", "71"), (1, "humidity", "72"), (2, "humidity", "60")]
    assert run(DEB, steps) == []


def test_fires_once_quiet_for_the_debounce() -> None:
    steps = [(0, "humidity", "60"), (3, "humidity", "75"), (6, "humidity", "76")]
    assert run(DEB, steps) == [(11, "firing", "humidity", "76")]


def test_debounce_then_for() -> None:
    both = rule("key: humidity\nwhen: {above: 70}\ndebounce: 5s\nfor: 30s")
    assert run(both, [(0, "humidity", "75")]) == [(35, "firing", "humidity", "75")]
