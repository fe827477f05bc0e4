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
    "kwargs",
    [{"initial": 0}, {"initial": 5, "maximum": 1}, {"factor": 0.5}, {"jitter": 1.5}],
)
def test_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
