"""Event rules (`changed`, `changed_by`): every matching event notifies, subject to cooldown."""

from .harness import rule, run, run_alerts

DOOR = rule("key: door\nwhen: {changed: true}")


def test_every_change_notifies_first_sighting_does_not() -> None:
    steps = [(0, "door", "0"), (5, "door", "1"), (6, "door", "1"), (9, "door", "0")]
    assert run(DOOR, steps) == [(5, "firing", "door", "1"), (9, "firing", "door", "0")]


def test_previous_is_the_value_before() -> None:
    got = run_alerts(DOOR, [(0, "door", "0"), (5, "door", "1")])
    assert [(a.value, a.previous) for _, a in got] == [("1", "0")]


def test_cooldown_applies_to_event_rules() -> None:
    cool = rule("key: door\nwhen: {changed: true}\ncooldown: 1m")
    steps = [(0, "door", "0"), (5, "door", "1"), (10, "door", "0"), (70, "door", "1")]
    assert run(cool, steps) == [(5, "firing", "door", "1"), (70, "firing", "door", "1")]


def test_changed_by() -> None:
    jump = rule("key: t\nwhen: {changed_by: 5}")
    steps = [(0, "t", "20"), (1, "t", "23"), (2, "t", "28.5"), (3, "t", "ERR"), (4, "t", "10")]
    # ERR is unknown (skipped); 10 vs ERR is unknown too
    assert run(jump, steps) == [(2, "firing", "t", "28.5")]


def test_changed_combined_with_a_level_test() -> None:
    opened = rule("key: door\nwhen: {changed: true, equals: '1'}")
    steps = [(0, "door", "0"), (5, "door", "1"), (9, "door", "0"), (12, "door", "1")]
    assert run(opened, steps) == [(5, "firing", "door", "1"), (12, "firing", "door", "1")]
