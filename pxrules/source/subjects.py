"""A Subject whose subscribers cannot hurt each other or the producer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex.internal.exceptions import DisposedException
from reactivex.subject import Subject

_T = TypeVar("_T")


class IsolatingSubject(Subject[_T]):
    """Like ``Subject``, but an exception in one observer's ``on_next`` is reported to
    ``on_observer_error`` and the value still reaches every other observer.

    Plain ``Subject`` lets the first raising observer abort the loop and the exception
    propagate into the producer (here: the socket read path).
    """

    def __init__(self, on_observer_error: Callable[[_T, Exception], None]) -> None:
        super().__init__()
        self._on_observer_error = on_observer_error

    def on_next(self, value: _T) -> None:
        # Subject.on_next takes its lock twice per value (disposed check, observer copy) and
        # goes through two more calls; every event of the source comes through here. A flag
        # read and a list copy are atomic under the GIL, so the lock adds nothing to them.
        if self.is_disposed:
            raise DisposedException()
        if not self.is_stopped:
            self._on_next_core(value)

    def _on_next_core(self, value: _T) -> None:
        observers = self.observers.copy()
        for observer in observers:
            try:
                observer.on_next(value)
            except Exception as exc:
                self._on_observer_error(value, exc)
