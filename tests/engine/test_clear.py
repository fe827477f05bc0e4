"""`clear`: hysteresis; without it the alert resolves when `when` stops holding."""

from .harness import rule, run

HYST = rule("key: humidity\nwhen: {above: 70}\nclear: {below: 65}\nresolve: true")


def test_hysteresis() -> None:
    steps = [(0, "humidity", "71"), (10, "humidity", "68"), (20, "humidity", "64")]
    assert run(HYST, steps) == [(0, "firing", "humidity", "71"), (20, "resolved", "humidity", "64")]


def test_without_clear_resolves_when_condition_breaks() -> None:
    plain = rule("key: humidity\nwhen: {above: 70}\nresolve: true")
    steps = [(0, "humidity", "71"), (10, "humidity", "68"), (20, "humidity", "64")]
    assert run(plain, steps) == [
        (0, "firing", "humidity", "71"),
        (10, "resolved", "humidity", "68"),
    ]


def test_no_resolve_notification_unless_asked() -> None:
    quiet = rule("key: humidity\nwhen: {above: 70}\nclear: {below: 65}")
    steps = [(0, "humidity", "71"), (20, "humidity", "64"), (30, "humidity", "80")]
    assert run(quiet, steps) == [(0, "firing", "humidity", "71"), (30, "firing", "humidity", "80")]


def test_non_numeric_value_is_unknown_for_clear() -> None:
    steps = [
        (0, "humidity", "71"),
        (10, "humidity", "NaN"),
        (20, "humidity", ""),
        (30, "humidity", "60"),
    ]
    assert run(HYST, steps) == [(0, "firing", "humidity", "71"), (30, "resolved", "humidity", "60")]
