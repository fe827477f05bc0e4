"""A clock jump (the process frozen by SIGSTOP or a VM pause, the machine asleep): timers wake
up long after they were due, before the events that arrived meanwhile are read. With
``on_late`` the engine holds them until told the source was re-read, so `for` and `stale` are
judged on what happened during the jump, not on the value from before it.

Virtual time: a freeze is ``TestScheduler.sleep``, which moves the clock on without running
what falls due meanwhile; those timers then run late, before the events read after the thaw.
"""

from __future__ import annotations

from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet
from pxrules.engine.timers import LATE_SECONDS
from pxrules.events import Event, parse_number

RULES = """
rules:
  - {name: hot, key: temp, when: {above: 50}, for: 10s}
  - {name: dead, key: hb, when: {stale: 20s}}
"""


def _run(hold: bool) -> tuple[list[tuple[float, str, str, str | None]], list[float]]:
    scheduler = TestScheduler()
    got: list[tuple[float, str, str, str | None]] = []
    lates: list[float] = []

    def emit(alert: Alert) -> None:
        got.append((scheduler.clock, alert.rule, alert.state, alert.value))

    engine = Engine(
        RuleSet.from_text(RULES), scheduler, emit, on_late=lates.append if hold else None
    )

    def send(key: str, value: str) -> None:
        engine.on_event(
            Event(kind="set", key=key, value=value, number=parse_number(value), at=scheduler.now)
        )

    def thaw() -> None:  # what was buffered during the freeze, read after the timers woke
        send("temp", "20")
        send("hb", "1")
        if hold:
            engine.release_timers()

    scheduler.schedule_absolute(0.0, lambda *_: (send("temp", "99"), send("hb", "1")))
    scheduler.schedule_absolute(5.0, lambda *_: scheduler.sleep(30.0))  # frozen from 5 to 35
    scheduler.schedule_absolute(35.0, lambda *_: thaw())  # after the late timers, as live
    scheduler.advance_to(100.0)
    return got, lates


def test_without_a_hold_the_jump_fires_on_stale_data() -> None:
    got, _ = _run(hold=False)
    assert got[:2] == [(35.0, "hot", "firing", "99"), (35.0, "dead", "firing", "1")]


def test_held_timers_judge_what_arrived_during_the_jump() -> None:
    got, lates = _run(hold=True)
    assert lates == [25.0] and lates[0] > LATE_SECONDS  # the `for` timer was due at 10
    # temp went back to 20 during the freeze: no firing; hb kept coming: dead 20 s after the
    # write read at 35, not at 20.
    assert got == [(55.0, "dead", "firing", "1")]
