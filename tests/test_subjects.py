"""IsolatingSubject: the source's hot Subject."""

from __future__ import annotations

import pytest
from reactivex.internal.exceptions import DisposedException

from pxrules.source.subjects import IsolatingSubject


def test_a_raising_observer_does_not_stop_the_others() -> None:
    failed: list[tuple[int, str]] = []
    subject: IsolatingSubject[int] = IsolatingSubject(lambda v, e: failed.append((v, str(e))))
    got: list[int] = []

    def bad(value: int) -> None:
        raise RuntimeError(f"bad {value}")

    subject.subscribe(bad)
    subject.subscribe(got.append)
    subject.on_next(1)
    subject.on_next(2)
    assert got == [1, 2] and failed == [(1, "bad 1"), (2, "bad 2")]


def test_values_after_completion_or_dispose() -> None:
    subject: IsolatingSubject[int] = IsolatingSubject(lambda v, e: None)
    got: list[int] = []
    subscription = subject.subscribe(got.append)
    subject.on_next(1)
    subscription.dispose()  # an unsubscribed observer gets nothing more
    subject.on_next(2)
    later: list[int] = []
    subject.subscribe(later.append)
    subject.on_completed()
    subject.on_next(3)  # after completion: delivered to nobody
    assert got == [1] and later == []
    subject.dispose()
    with pytest.raises(DisposedException):
        subject.on_next(4)
