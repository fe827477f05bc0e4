"""Compile rule conditions into fast three-valued predicates.

A predicate returns ``True``, ``False`` or ``None`` (unknown: a numeric test on a non-numeric value,
any test but ``removed``/``stale`` on a removed key). Combinators follow Kleene logic: ``all`` is
False if any part is False, else unknown if any part is unknown; ``any`` mirrors it; ``not`` keeps
unknown unknown.

>>> from pxrules.rules.schema import Condition
>>> hot = compile_condition(Condition(above=70))
>>> hot(Reading("71", 71.0)), hot(Reading("ERR", None))
(True, None)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from ..events import parse_number
from .regex import compile_pattern
from .schema import Condition

Truth = bool | None


@dataclass(slots=True)
class Reading:
    """What a condition looks at: a key's value now, the one before, and its clocks."""

    value: str | None
    number: float | None
    previous: str | None = None
    previous_number: float | None = None
    removed: bool = False
    last_set: datetime | None = None
    now: datetime | None = None


Predicate = Callable[[Reading], Truth]


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]

    def check(r: Reading) -> Truth:
        unknown = False
        for part in parts:
            result = part(r)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return check


def _any(parts: list[Predicate]) -> Predicate:
    def check(r: Reading) -> Truth:
        unknown = False
        for part in parts:
            result = part(r)
            if result is True:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return check


def _not(part: Predicate) -> Predicate:
    def check(r: Reading) -> Truth:
        result = part(r)
        return None if result is None else not result

    return check


def _numeric(compare: Callable[[float, float], bool], limit: float) -> Predicate:
    """A numeric threshold; unknown on a removed key (the removed-key guard is built in, and
    the common comparisons are written out: this runs for every rule on every event)."""
    if compare is operator.gt:

        def above(r: Reading) -> Truth:
            n = r.number
            return None if n is None or r.removed else n > limit

        return above
    if compare is operator.lt:

        def below(r: Reading) -> Truth:
            n = r.number
            return None if n is None or r.removed else n < limit

        return below

    def check(r: Reading) -> Truth:
        n = r.number
        return None if n is None or r.removed else compare(n, limit)

    return check


def _same(expected: str | float) -> Callable[[Reading], bool | None]:
    """equals: numerically when both sides are numbers, else exact string."""
    if isinstance(expected, str):
        text, number = expected, parse_number(expected)
    else:
        text, number = None, float(expected)

    def check(r: Reading) -> Truth:
        if r.value is None:
            return None
        if number is not None and r.number is not None:
            return r.number == number
        return text is not None and r.value == text

    return check


def _one_of(options: list[str | float]) -> Predicate:
    tests = [_same(option) for option in options]

    def check(r: Reading) -> Truth:
        if r.value is None:
            return None
        return any(test(r) for test in tests)

    return check


def _matches(pattern: str) -> Predicate:
    search = compile_pattern(pattern)  # RE2: linear time whatever a device writes

    def check(r: Reading) -> Truth:
        return None if r.value is None else search(r.value) is not None

    return check


def _changed(r: Reading) -> Truth:
    if r.value is None:
        return None
    if r.previous is None:
        return False  # first sighting: nothing to differ from
    return r.value != r.previous


def _changed_by(step: float) -> Predicate:
    def check(r: Reading) -> Truth:
        if r.value is None:
            return None
        if r.previous is None:
            return False
        if r.number is None or r.previous_number is None:
            return None
        return abs(r.number - r.previous_number) >= step

    return check


def _removed(expected: bool) -> Predicate:
    return lambda r: r.removed == expected


def _stale(seconds: float) -> Predicate:
    def check(r: Reading) -> Truth:
        if r.last_set is None or r.now is None:
            return None
        return (r.now - r.last_set).total_seconds() >= seconds

    return check


def _guard_removed(test: Predicate) -> Predicate:
    """Tests other than removed/stale are unknown on a removed key."""

    def check(r: Reading) -> Truth:
        return None if r.removed else test(r)

    return check


def compile_condition(condition: Condition) -> Predicate:
    """Turn a validated :class:`Condition` into a predicate over a :class:`Reading`."""
    parts: list[Predicate] = []
    c = condition
    value_tests: list[Predicate] = []
    if c.above is not None:
        parts.append(_numeric(operator.gt, c.above))
    if c.below is not None:
        parts.append(_numeric(operator.lt, c.below))
    if c.at_least is not None:
        parts.append(_numeric(operator.ge, c.at_least))
    if c.at_most is not None:
        parts.append(_numeric(operator.le, c.at_most))
    if c.equals is not None:
        value_tests.append(_same(c.equals))
    if c.not_equals is not None:
        value_tests.append(_not(_same(c.not_equals)))
    if c.in_ is not None:
        value_tests.append(_one_of(c.in_))
    if c.not_in is not None:
        value_tests.append(_not(_one_of(c.not_in)))
    if c.matches is not None:
        value_tests.append(_matches(c.matches))
    if c.changed:
        value_tests.append(_changed)
    if c.changed_by is not None:
        value_tests.append(_changed_by(c.changed_by))
    parts.extend(_guard_removed(test) for test in value_tests)
    if c.removed is not None:
        parts.append(_removed(c.removed))
    if c.stale is not None:
        parts.append(_stale(c.stale))
    if c.all is not None:
        parts.append(_all([compile_condition(child) for child in c.all]))
    if c.any is not None:
        parts.append(_any([compile_condition(child) for child in c.any]))
    if c.not_ is not None:
        parts.append(_not(compile_condition(c.not_)))
    return _all(parts)


def stale_durations(condition: Condition) -> Iterator[float]:
    """Every ``stale`` duration in the tree: the times at which the result can change unaided."""
    if condition.stale is not None:
        yield condition.stale
    for child in [*(condition.all or []), *(condition.any or [])]:
        yield from stale_durations(child)
    if condition.not_ is not None:
        yield from stale_durations(condition.not_)


def thresholds(condition: Condition) -> Iterator[float]:
    """Every numeric limit in the tree (``above``, ``below``, ``at_least``, ``at_most``): the
    lines the status page draws on a key's chart."""
    for limit in (condition.above, condition.below, condition.at_least, condition.at_most):
        if limit is not None:
            yield float(limit)
    for child in [*(condition.all or []), *(condition.any or [])]:
        yield from thresholds(child)
    if condition.not_ is not None:
        yield from thresholds(condition.not_)
