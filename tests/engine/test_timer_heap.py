"""The timer heap on its own (pxrules/engine/timers.py): what a late wake-up holds, what a
release lets go and when, and a disposed heap. Times are seconds on a TestScheduler; a freeze
is ``TestScheduler.sleep``, which moves the clock on without running what fell due."""

from __future__ import annotations

import threading

from reactivex.testing import TestScheduler

from pxrules.engine.timers import LATE_SECONDS, TimerHeap
from pxrules.engine.tracks import AlertTrack


class Heap:
    """A TimerHeap over one rule, recording (clock, key, timer, due) of each timer run."""

    def __init__(self, *, hold: bool = True) -> None:
        self.clock = TestScheduler()
        self.tracks: list[dict[str, AlertTrack]] = [{}]
        self.fired: list[tuple[float, str, str, float]] = []
        self.lates: list[float] = []
        self.heap = TimerHeap(
            self.clock, threading.RLock(), self.tracks, self._fired,
            self.lates.append if hold else None,
        )  # fmt: skip

    def _fired(self, _index: int, key: str, _track: AlertTrack, name: str, due: object) -> None:
        self.fired.append((self.clock.clock, key, name, self.clock.to_seconds(due)))  # type: ignore[arg-type]

    def arm(self, key: str, due: float, name: str = "for") -> None:
        track = self.tracks[0].setdefault(key, AlertTrack())
        self.heap.schedule(0, key, track, name, self.clock.to_datetime(due))

    def at(self, t: float, action: object) -> None:
        self.clock.schedule_absolute(t, lambda *_: action())  # type: ignore[operator]

    def freeze(self, start: float, seconds: float) -> None:
        self.at(start, lambda: self.clock.sleep(seconds))


def test_a_wake_up_exactly_the_late_limit_late_is_not_a_jump() -> None:
    h = Heap()
    h.arm("a", 10)
    h.freeze(5, 5 + LATE_SECONDS)  # the wake-up due at 10 runs at 15
    h.clock.advance_to(100)
    assert h.fired == [(15, "a", "for", 10)] and h.lates == []


def test_a_later_wake_up_holds_until_released_then_runs_the_overdue_at_once() -> None:
    h = Heap()
    h.arm("a", 10)
    h.arm("b", 100)
    h.freeze(5, 25)  # the wake-up due at 10 runs at 30: 20 s late
    h.at(40, h.heap.release)
    h.clock.advance_to(200)
    assert h.lates == [20.0]
    assert h.fired == [(40, "a", "for", 10), (100, "b", "for", 100)]


def test_while_held_new_timers_wait_for_the_release_too() -> None:
    h = Heap()
    h.arm("a", 10)
    h.freeze(5, 25)
    h.at(31, lambda: h.arm("b", 32))  # an event during the hold arms a timer
    h.at(33, lambda: h.arm("c", 34))  # and another, after the first's wake-up came and went
    h.at(50, h.heap.release)
    h.clock.advance_to(100)
    assert h.heap.held is False
    assert h.fired == [(50, "a", "for", 10), (50, "b", "for", 32), (50, "c", "for", 34)]


def test_a_timer_due_no_later_than_the_last_release_is_not_judged_late_again() -> None:
    """The source was re-read (release at 60); a timer due then whose wake-up is delayed by
    another freeze right after runs late, but is not held: what it judges was re-read."""
    h = Heap()

    def release_then_freeze() -> None:
        h.arm("d", 60)
        h.heap.release()
        h.clock.sleep(10)

    h.at(60, release_then_freeze)
    h.clock.advance_to(100)
    assert h.fired == [(70, "d", "for", 60)] and h.lates == []


def test_a_release_with_nothing_armed_does_nothing() -> None:
    h = Heap()
    h.heap.release()
    h.clock.advance_to(10)
    assert h.fired == [] and h.heap.held is False


def test_without_on_late_a_late_wake_up_just_runs() -> None:
    h = Heap(hold=False)
    h.arm("a", 10)
    h.freeze(5, 100)
    h.clock.advance_to(200)
    assert h.fired == [(105, "a", "for", 10)]


def test_a_disposed_heap_runs_nothing_even_what_is_armed_after() -> None:
    h = Heap()
    h.arm("a", 10)
    h.heap.dispose()
    h.arm("b", 20)
    h.heap.release()
    h.clock.advance_to(100)
    assert h.fired == []


def test_a_cancelled_or_rearmed_timer_runs_once_at_its_last_time() -> None:
    h = Heap()
    h.arm("a", 10)
    h.arm("a", 20)  # re-armed: the entry at 10 is stale
    h.arm("b", 10)
    TimerHeap.cancel(h.tracks[0]["b"], "for")
    h.clock.advance_to(100)
    assert h.fired == [(20, "a", "for", 20)]
    assert h.tracks[0]["a"].timers == {} and h.tracks[0]["b"].timers == {}


def test_a_stale_entry_does_not_delay_a_live_one_due_with_it() -> None:
    """A cancelled timer's entry at the top of the heap is skipped, and the live timer due at
    the same instant runs in the same wake-up: before what the scheduler has next at that
    instant (here an action scheduled after both timers were armed)."""
    h = Heap()
    h.arm("a", 10)
    TimerHeap.cancel(h.tracks[0]["a"], "for")  # its entry stays in the heap, first
    h.arm("b", 10)
    h.at(10, lambda: h.fired.append((h.clock.clock, "-", "action", 10)))
    h.clock.advance_to(20)
    assert h.fired == [(10, "b", "for", 10), (10, "-", "action", 10)]
