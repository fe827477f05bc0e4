"""The delivery decision (pxrules/daemon/decision.py), a pure function: every branch and every
boundary of the retry window, so that ``make mutate`` finds no change to it that passes."""

from __future__ import annotations

import pytest

from pxrules.backoff import Backoff
from pxrules.daemon.decision import DEFAULT_BACKOFF, Decision, next_step
from pxrules.daemon.notifiers.base import Outcome, Result

POLICY = Backoff(initial=1, maximum=60, jitter=0)
RETRY = Result(Outcome.RETRY, "HTTP 503")


def step(result: Result = RETRY, *, attempts: int = 1, now: float = 10.0,
         created: float = 0.0, retry_for: float = 3600.0) -> Decision:  # fmt: skip
    return next_step(
        result, attempts=attempts, created=created, now=now, retry_for=retry_for, backoff=POLICY
    )


def test_delivered_is_final_at_once() -> None:
    assert step(Result(Outcome.DELIVERED, "HTTP 200")) == Decision("delivered", 10.0, "delivered")


def test_a_permanent_failure_is_not_retried() -> None:
    assert step(Result(Outcome.PERMANENT, "HTTP 400")) == Decision(
        "failed", 10.0, "permanent failure"
    )


@pytest.mark.parametrize(("attempts", "at"), [(1, 11.0), (2, 12.0), (3, 14.0), (7, 70.0)])
def test_retries_back_off_from_the_attempt_number(attempts: int, at: float) -> None:
    decision = step(attempts=attempts)
    assert decision.status == "pending" and decision.next_attempt == at
    assert decision.reason == f"retry in {at - 10:.1f}s"


def test_retry_after_from_the_target_wins_over_the_backoff() -> None:
    honoured = Result(Outcome.RETRY, "HTTP 429", retry_after=30)
    assert step(honoured, attempts=5).next_attempt == 40.0
    assert step(Result(Outcome.RETRY, "HTTP 429", retry_after=0), attempts=5).next_attempt == 10.0


def test_a_retry_that_lands_exactly_on_the_deadline_is_kept() -> None:
    decision = step(now=3599.0)  # 3599 + 1 == 3600: inside the window, not clipped
    assert decision == Decision("pending", 3600.0, "retry in 1.0s")


def test_a_retry_asked_for_at_once_at_the_deadline_is_still_made() -> None:
    at_once = Result(Outcome.RETRY, "HTTP 429", retry_after=0)
    assert step(at_once, attempts=9, now=3600.0) == Decision("pending", 3600.0, "retry in 0.0s")


def test_a_retry_past_the_deadline_is_clipped_to_one_last_try_at_it() -> None:
    decision = step(attempts=9, now=3590.0)  # backoff 256 s would end past 3600
    assert decision == Decision("pending", 3600.0, "retry in 10.0s")


def test_at_the_deadline_it_gives_up() -> None:
    assert step(attempts=9, now=3600.0) == Decision("failed", 3600.0, "gave up after 9 attempts")
    assert step(attempts=4, now=3700.0).status == "failed"


def test_the_window_counts_from_the_item_not_from_zero() -> None:
    assert step(attempts=9, created=100.0, now=3650.0).next_attempt == 3700.0
    assert step(attempts=9, created=100.0, now=3700.0).status == "failed"


def test_the_default_policy_is_the_documented_one() -> None:
    assert Backoff(initial=1.0, maximum=300.0, factor=2.0, jitter=0.2) == DEFAULT_BACKOFF
