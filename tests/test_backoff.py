from __future__ import annotations

import pytest

from pxrules import backoff as backoff_module
from pxrules.backoff import Backoff


def test_exponential_then_capped() -> None:
    policy = Backoff(initial=1, maximum=30, factor=2, jitter=0)
    assert [policy.delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_huge_attempt_does_not_overflow() -> None:
    assert Backoff(initial=1, maximum=60, jitter=0).delay(10**9) == 60


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 6.0), (0.5, 8.0), (0.75, 9.0)])
def test_jitter_is_proportional(draw: float, expected: float) -> None:
    policy = Backoff(initial=1, maximum=60, jitter=0.25, rng=lambda: draw)
    assert policy.delay(3) == pytest.approx(expected)


def test_jitter_never_exceeds_the_cap() -> None:
    policy = Backoff(initial=1, maximum=10, jitter=0.5, rng=lambda: 0.999)
    assert policy.delay(20) == 10
    assert Backoff(initial=1, maximum=10, jitter=0.5, rng=lambda: 0.0).delay(20) == 5


def test_default_random_source_is_patchable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff_module.random, "random", lambda: 1.0)
    assert Backoff(initial=2, maximum=100, jitter=0.1).delay(0) == pytest.approx(2.2)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"initial": 0}, "need 0 < initial <= maximum and factor >= 1"),
        ({"initial": 5, "maximum": 1}, "need 0 < initial <= maximum and factor >= 1"),
        ({"factor": 0.5}, "need 0 < initial <= maximum and factor >= 1"),
        ({"jitter": 1.5}, "jitter is a fraction between 0 and 1"),
        ({"jitter": -0.1}, "jitter is a fraction between 0 and 1"),
    ],
)
def test_rejects_nonsense(kwargs: dict[str, float], says: str) -> None:
    with pytest.raises(ValueError) as raised:
        Backoff(**kwargs)
    assert str(raised.value) == says


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 5, "maximum": 5}, {"factor": 1}, {"jitter": 0}, {"jitter": 1}],
)
def test_accepts_the_edges(kwargs: dict[str, float]) -> None:
    policy = Backoff(**kwargs, rng=lambda: 0.5)
    assert policy.delay(0) == policy.initial


def test_factor_one_is_a_constant_delay_and_a_negative_attempt_is_the_first() -> None:
    assert [Backoff(initial=3, maximum=60, factor=1, jitter=0).delay(n) for n in (0, 5)] == [3, 3]
    assert Backoff(initial=2, maximum=60, factor=3, jitter=0).base(-4) == 2.0
    assert Backoff(initial=2, maximum=60, factor=3, jitter=0).base(2) == 18.0


def test_full_jitter_reaches_zero_but_never_below() -> None:
    assert Backoff(initial=4, maximum=60, jitter=1, rng=lambda: 0.0).delay(0) == 0.0
    assert Backoff(initial=4, maximum=60, jitter=1, rng=lambda: 0.25).delay(0) == 2.0


def test_the_exponent_is_capped_so_a_huge_maximum_still_grows_to_it() -> None:
    huge = Backoff(initial=1, maximum=1e300, jitter=0)
    assert huge.base(64) == 2.0**64 and huge.base(65) == 2.0**64 and huge.base(10**6) == 2.0**64
