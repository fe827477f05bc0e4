"""The condition language as a truth table: three-valued `all`/`any`/`not` (a value that is not
a number is unknown, docs/semantics.md), the negated tests, the removed guard, and the clocks
with a missing side. Each case states the answer the docs give, not what the code computes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pxrules.events import parse_number
from pxrules.rules.conditions import Reading, compile_condition
from pxrules.rules.schema import Condition

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def truth(condition: dict[str, Any], value: str | None, **reading: Any) -> bool | None:
    predicate = compile_condition(Condition.model_validate(condition))
    number = parse_number(value) if value is not None else None
    return predicate(Reading(value, number, **reading))


# above 70 is True for "75", False for "60", unknown for "ERR".
HOT, COLD, ERR = "75", "60", "ERR"


@pytest.mark.parametrize(
    ("value", "all_", "any_", "not_"),
    [
        (HOT, True, True, False),
        (COLD, False, False, True),
        (ERR, None, None, None),
    ],
)
def test_one_part_combinators_follow_their_part(
    value: str, all_: Any, any_: Any, not_: Any
) -> None:
    hot = {"above": 70}
    assert truth({"all": [hot]}, value) is all_
    assert truth({"any": [hot]}, value) is any_
    assert truth({"not": hot}, value) is not_


def test_three_valued_all_and_any() -> None:
    unknown, false, true = {"above": 70}, {"equals": "never"}, {"matches": "."}
    # all: False wins; else unknown wins over True
    assert truth({"all": [unknown, false]}, ERR) is False
    assert truth({"all": [false, unknown]}, ERR) is False
    assert truth({"all": [unknown, true]}, ERR) is None
    assert truth({"all": [true, true]}, ERR) is True
    # any: True wins; else unknown wins over False
    assert truth({"any": [unknown, true]}, ERR) is True
    assert truth({"any": [true, unknown]}, ERR) is True
    assert truth({"any": [unknown, false]}, ERR) is None
    assert truth({"any": [false, false]}, ERR) is False
    # not: unknown stays unknown
    assert truth({"not": unknown}, ERR) is None
    assert truth({"not": {"all": [unknown, true]}}, ERR) is None


def test_several_fields_in_one_condition_are_an_and() -> None:
    between = {"above": 10, "below": 20}
    assert [truth(between, v) for v in ("15", "25", "5", "ERR")] == [True, False, False, None]


def test_the_negated_tests() -> None:
    assert truth({"not_equals": 1}, "1.0") is False  # numerically equal
    assert truth({"not_equals": 1}, "2") is True
    assert truth({"not_equals": "on"}, "off") is True
    assert truth({"not_in": ["a", 2]}, "2.0") is False
    assert truth({"not_in": ["a", 2]}, "b") is True
    assert truth({"in": ["a", 2]}, "2") is True


def test_equals_compares_numbers_only_when_both_are_numbers() -> None:
    assert truth({"equals": "1"}, "1.0") is True  # both numbers
    assert truth({"equals": "on"}, "on") is True
    assert truth({"equals": "on"}, "1") is False  # one is a number, the other not: text
    assert truth({"equals": 1}, "one") is False


def test_a_removed_key_is_unknown_to_value_tests_and_true_for_removed() -> None:
    for value_test in ({"above": 1}, {"equals": "x"}, {"matches": "."}, {"not_equals": "x"}):
        assert truth(value_test, None, removed=True) is None, value_test
    assert truth({"removed": True}, None, removed=True) is True
    assert truth({"removed": True}, "1", removed=False) is False
    assert truth({"removed": False}, "1", removed=False) is True


def test_changed_by_needs_both_numbers_and_a_first_sighting_is_no_change() -> None:
    assert truth({"changed_by": 5}, "10", previous="4", previous_number=4.0) is True
    assert truth({"changed_by": 5}, "10", previous="ERR", previous_number=None) is None
    assert truth({"changed_by": 5}, "ERR", previous="4", previous_number=4.0) is None
    assert truth({"changed_by": 5}, "10", previous=None, previous_number=None) is False
    assert truth({"changed": True}, "10", previous=None) is False
    assert truth({"changed": True}, "10", previous="9") is True
    assert truth({"changed": True}, "10", previous="10") is False


def test_stale_needs_a_clock_and_a_last_reading() -> None:
    assert truth({"stale": 60}, "1", last_set=T0, now=T0 + timedelta(seconds=60)) is True
    assert truth({"stale": 60}, "1", last_set=T0, now=T0 + timedelta(seconds=59)) is False
    assert truth({"stale": 60}, "1", last_set=None, now=T0) is None
    assert truth({"stale": 60}, "1", last_set=T0, now=None) is None


def test_thresholds_are_every_numeric_limit_in_the_tree() -> None:
    """What the status page draws on a key's chart."""
    from pxrules.rules.conditions import thresholds

    tree = Condition.model_validate(
        {
            "above": 70,
            "any": [{"below": 10}, {"all": [{"at_least": 5}, {"at_most": 6}]}],
            "not": {"above": 99},
            "equals": 3,
        }
    )
    assert sorted(thresholds(tree)) == [5.0, 6.0, 10.0, 70.0, 99.0]
    assert list(thresholds(Condition.model_validate({"matches": "x"}))) == []
