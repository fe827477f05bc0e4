"""Run rules over scripted events on a TestScheduler; times are seconds (= ticks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import RuleSet, SilenceBook
from pxrules.events import Event, parse_number

Step = tuple[float, str, str | None]  # (seconds, key, value); value None means removeData
Got = tuple[float, str, str, str | None]  # (seconds, state, key, value)


def event_at(scheduler: TestScheduler, t: float, key: str, value: str | None) -> Event:
    at = scheduler.to_datetime(t)
    if value is None:
        return Event(kind="remove", key=key, value=None, at=at)
    return Event(kind="set", key=key, value=value, number=parse_number(value), at=at)


def run(
    rules: str | RuleSet,
    steps: Sequence[Step],
    until: float = 100_000.0,
    *,
    silences: SilenceBook | None = None,
    actions: Sequence[tuple[float, Callable[[TestScheduler], object]]] = (),
) -> list[Got]:
    """Subscribe at t=0, push each step at its time, advance to ``until``; return the alerts.
    ``actions`` run at their times too (e.g. expire a silence)."""
    alerts = run_alerts(rules, steps, until, silences=silences, actions=actions)
    return [(t, a.state, a.key, a.value) for t, a in alerts]


def run_alerts(
    rules: str | RuleSet,
    steps: Sequence[Step],
    until: float = 100_000.0,
    *,
    silences: SilenceBook | None = None,
    actions: Sequence[tuple[float, Callable[[TestScheduler], object]]] = (),
) -> list[tuple[float, Alert]]:
    ruleset = RuleSet.from_text(rules) if isinstance(rules, str) else rules
    scheduler = TestScheduler()
    subject: Subject[Event] = Subject()
    got: list[tuple[float, Alert]] = []
    ruleset.apply(subject, scheduler, silences=silences).subscribe(
        lambda a: got.append((scheduler.clock, a))
    )
    for t, action in actions:
        scheduler.schedule_absolute(float(t), lambda s, _st, act=action: act(s))
    for t, key, value in steps:
        event = event_at(scheduler, t, key, value)
        scheduler.schedule_absolute(float(t), lambda _s, _st, ev=event: subject.on_next(ev))
    scheduler.advance_to(until)
    for t, alert in got:
        # `at` is the virtual time the notification was due; emitted at that very tick.
        assert alert.at == scheduler.to_datetime(t), (t, alert)
    return got


def rule(body: str, name: str = "r") -> str:
    """A one-rule file: ``rule("key: h\\nwhen: {above: 70}")``."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return f"rules:\n  - name: {name}\n{indented}\n"
