"""Conditions on the stream: unknown values, equals/in/matches, removed, where."""

import pytest

from .harness import rule, run


@pytest.mark.parametrize("bad", ["ERR", "", "NaN", "inf", "1_000", " "])
def test_non_numeric_values_never_change_a_numeric_rule(bad: str) -> None:
    numeric = rule("key: h\nwhen: {above: 70}\nresolve: true")
    # firing stays firing through the bad value; inactive stays inactive
    assert run(numeric, [(0, "h", "71"), (10, "h", bad), (20, "h", "72")]) == [
        (0, "firing", "h", "71")
    ]
    assert run(numeric, [(0, "h", bad), (10, "h", "50")]) == []


def test_equals_numeric_or_string() -> None:
    eq = rule("key: k\nwhen: {equals: 1}\nresolve: true")
    steps = [(0, "k", "1.0"), (1, "k", "on"), (2, "k", " 1 "), (3, "k", "2")]
    assert run(eq, steps) == [
        (0, "firing", "k", "1.0"),
        (1, "resolved", "k", "on"),
        (2, "firing", "k", " 1 "),
        (3, "resolved", "k", "2"),
    ]
    text = rule("key: k\nwhen: {in: ['ERR', 'FAULT']}")
    assert run(text, [(0, "k", "ok"), (1, "k", "FAULT")]) == [(1, "firing", "k", "FAULT")]


def test_matches_and_not() -> None:
    bad = rule("key: s\nwhen: {matches: '^ERR', not: {equals: 'ERR-0'}}")
    steps = [(0, "s", "ERR-0"), (1, "s", "ok"), (2, "s", "ERR-7")]
    assert run(bad, steps) == [(2, "firing", "s", "ERR-7")]


def test_removed() -> None:
    gone = rule("key: k\nwhen: {removed: true}\nresolve: true")
    steps = [(0, "k", "1"), (5, "k", None), (9, "k", "2")]
    assert run(gone, steps) == [(5, "firing", "k", None), (9, "resolved", "k", "2")]


def test_value_tests_are_unknown_after_remove() -> None:
    numeric = rule("key: h\nwhen: {above: 70}\nresolve: true")
    steps = [(0, "h", "71"), (5, "h", None), (9, "h", "50")]
    assert run(numeric, steps) == [(0, "firing", "h", "71"), (9, "resolved", "h", "50")]


def test_where_on_other_keys() -> None:
    humid = rule("key: h\nwhen: {above: 70}\nwhere: {window: {equals: closed}}")
    steps = [
        (0, "h", "75"),  # no window value yet: where does not hold
        (1, "window", "open"),
        (2, "h", "76"),  # window open: no
        (3, "window", "closed"),  # where is only checked when h is evaluated
        (4, "h", "77"),
    ]
    assert run(humid, steps) == [(4, "firing", "h", "77")]


def test_any_all_with_unknown() -> None:
    either = rule("key: x\nwhen: {any: [{above: 10}, {equals: 'HIGH'}]}")
    assert run(either, [(0, "x", "HIGH"), (1, "x", "ERR")]) == [(0, "firing", "x", "HIGH")]
