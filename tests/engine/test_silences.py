"""Silences in virtual time: held notifications, what goes out when the silence ends, matchers,
repeats, event rules, restarts. Times are seconds on a TestScheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet, Silence, SilenceBook, SilenceError, parse_matchers
from pxrules.engine.gate import Suppressed
from pxrules.events import Event

from .harness import event_at, rule, run

HOT = rule("key: freezer\nwhen: {above: -10}\nresolve: true\nseverity: critical", "freezer-warm")
T = TestScheduler()  # only for its clock conversions


def at(seconds: float) -> datetime:
    return T.to_datetime(seconds)


def book(*spans: tuple[float, float], **matchers: str) -> SilenceBook:
    """Silences over ``spans`` (start, end seconds), each with ``matchers`` (rule=freezer*)."""
    return SilenceBook(
        Silence.create(matchers or {"rule": "freezer*"}, starts_at=at(a), ends_at=at(b), id=f"s{i}")
        for i, (a, b) in enumerate(spans)
    )


def test_a_firing_inside_a_silence_goes_out_when_the_silence_ends_and_its_resolve_later() -> None:
    steps = [(10, "freezer", "-2"), (500, "freezer", "-20")]
    assert run(HOT, steps, silences=book((0, 300))) == [
        (300, "firing", "freezer", "-2"),
        (500, "resolved", "freezer", "-20"),
    ]


def test_an_alert_that_fires_and_resolves_inside_a_silence_sends_nothing() -> None:
    steps = [(10, "freezer", "-2"), (100, "freezer", "-20")]
    assert run(HOT, steps, silences=book((0, 300))) == []


def test_the_resolve_of_a_firing_that_was_sent_goes_out_when_the_silence_ends() -> None:
    steps = [(10, "freezer", "-2"), (100, "freezer", "-20")]
    assert run(HOT, steps, silences=book((50, 300))) == [
        (10, "firing", "freezer", "-2"),
        (300, "resolved", "freezer", "-20"),
    ]


def test_resolved_and_firing_again_inside_the_silence_owes_nothing() -> None:
    """Receivers were told it fires; at the end it fires: there is nothing to tell them."""
    steps = [(10, "freezer", "-2"), (100, "freezer", "-20"), (200, "freezer", "-1"),
             (400, "freezer", "-20")]  # fmt: skip
    assert run(HOT, steps, silences=book((50, 300))) == [
        (10, "firing", "freezer", "-2"),
        (400, "resolved", "freezer", "-20"),
    ]


def test_expiring_a_silence_early_sends_what_it_held_at_that_moment() -> None:
    silences = book((0, 3600))
    steps = [(10, "freezer", "-2")]
    got = run(
        HOT, steps, silences=silences, actions=[(120, lambda s: silences.expire("s0", s.now))]
    )
    assert got == [(120, "firing", "freezer", "-2")]
    assert silences.get("s0") is not None and silences.get("s0").ends_at == at(120)  # type: ignore[union-attr]


def test_a_silence_that_starts_later_lets_notifications_through_until_then() -> None:
    steps = [(10, "freezer", "-2"), (100, "freezer", "-20"), (250, "freezer", "-3"),
             (260, "freezer", "-30")]  # fmt: skip
    assert run(HOT, steps, silences=book((200, 300))) == [
        (10, "firing", "freezer", "-2"),
        (100, "resolved", "freezer", "-20"),
    ]


@pytest.mark.parametrize(
    ("matchers", "silenced"),
    [
        ({"rule": "freezer*"}, True),
        ({"rule": "fridge*"}, False),
        ({"key": "free*"}, True),
        ({"key": "kitchen/*"}, False),
        ({"severity": "critical"}, True),
        ({"severity": "warning"}, False),
        ({"rule": "freezer-warm", "severity": "warning"}, False),  # every matcher must match
        ({"project": "home"}, False),  # the engine's project is "" here
    ],
)
def test_matchers_must_all_match(matchers: dict[str, str], silenced: bool) -> None:
    got = run(HOT, [(10, "freezer", "-2")], until=100, silences=book((0, 1000), **matchers))
    assert got == ([] if silenced else [(10, "firing", "freezer", "-2")])


def test_a_for_rule_that_becomes_firing_inside_the_silence_is_sent_at_its_end() -> None:
    rules = rule("key: freezer\nwhen: {above: -10}\nfor: 5m", "freezer-warm")
    assert run(rules, [(0, "freezer", "-2")], until=2000, silences=book((100, 900))) == [
        (900, "firing", "freezer", "-2")
    ]


def test_repeats_inside_a_silence_are_skipped_and_resume_after_it() -> None:
    rules = rule("key: freezer\nwhen: {above: -10}\nrepeat: 100s", "freezer-warm")
    got = run(rules, [(0, "freezer", "-2")], until=450, silences=book((150, 350)))
    assert [t for t, *_ in got] == [0, 100, 400]


def test_an_event_rule_matched_inside_a_silence_is_dropped_not_sent_later() -> None:
    rules = rule("key: door\nwhen: {equals: open}", "freezer-door")
    steps = [(10, "door", "open"), (20, "door", "shut"), (400, "door", "open")]
    assert run(rules, steps, silences=book((0, 300))) == [(400, "firing", "door", "open")]


def test_each_silence_end_releases_only_what_no_other_silence_still_holds() -> None:
    rules = (
        "rules:\n"
        "  - {name: freezer-warm, key: freezer, when: {above: -10}}\n"
        "  - {name: fridge-warm, key: fridge, when: {above: 8}}\n"
    )
    silences = SilenceBook([
        Silence.create({"key": "f*"}, starts_at=at(0), ends_at=at(100), id="short"),
        Silence.create({"key": "fridge"}, starts_at=at(0), ends_at=at(500), id="long"),
    ])  # fmt: skip
    steps = [(10, "freezer", "-2"), (10, "fridge", "9")]
    assert run(rules, steps, silences=silences) == [
        (100, "firing", "freezer", "-2"),
        (500, "firing", "fridge", "9"),
    ]


def test_suppressed_notifications_are_counted_and_reported() -> None:
    scheduler = TestScheduler()
    silences = book((0, 300))
    got: list[Alert] = []
    held: list[Suppressed] = []
    engine = Engine(RuleSet.from_text(HOT), scheduler, got.append, silences=silences,
                    on_suppressed=held.append)  # fmt: skip
    scheduler.schedule_absolute(
        10.0, lambda *_: engine.on_event(event_at(scheduler, 10, "freezer", "-2"))
    )
    scheduler.schedule_absolute(
        20.0, lambda *_: engine.on_event(event_at(scheduler, 20, "freezer", "-20"))
    )
    scheduler.advance_to(1000)
    assert got == []
    # Its resolve is not held (nor reported): its firing was never sent.
    assert [(h.state, h.reason, h.by, h.value) for h in held] == [
        ("firing", "silenced", "s0", "-2")
    ]
    assert engine.stats.held["silenced"] == len(held)
    assert held[0].text_line().endswith("silenced firing freezer-warm freezer=-2 (silence s0)")


def _engine(scheduler: TestScheduler, silences: SilenceBook, got: list[tuple[float, Alert]],
            state: dict[str, Any] | None = None) -> Engine:  # fmt: skip
    return Engine(RuleSet.from_text(HOT), scheduler, lambda a: got.append((scheduler.clock, a)),
                  silences=silences, state=state)  # fmt: skip


@pytest.mark.parametrize(("restart_at", "expected_at"), [(100, 300), (400, 400)])
def test_an_owed_firing_survives_a_restart(restart_at: float, expected_at: float) -> None:
    """Saved while the silence holds a firing; restored before its end (sent at the end) or
    after it (sent at once)."""
    first = TestScheduler()
    got: list[tuple[float, Alert]] = []
    engine = _engine(first, book((0, 300)), got)
    first.schedule_absolute(10.0, lambda *_: engine.on_event(event_at(first, 10, "freezer", "-2")))
    first.advance_to(50)
    saved = engine.snapshot()
    engine.dispose()
    assert got == [] and saved["tracks"]["freezer-warm"]["freezer"]["owed"] is True

    second = TestScheduler(initial_clock=restart_at)
    _engine(second, book((0, 300)), got, state=saved)
    second.advance_to(1000)
    assert [(t, a.state, a.value) for t, a in got] == [(expected_at, "firing", "-2")]


def test_the_book_validates_what_it_is_given() -> None:
    with pytest.raises(SilenceError, match="matcher is NAME=GLOB"):
        parse_matchers(["rule"])
    with pytest.raises(SilenceError, match="at least one matcher"):
        Silence.create({}, starts_at=at(0), duration="1h")
    with pytest.raises(SilenceError, match="positive duration"):
        Silence.create({"rule": "a"}, starts_at=at(0), duration="-5m")
    with pytest.raises(SilenceError, match="end after it starts"):
        Silence.create({"rule": "a"}, starts_at=at(10), ends_at=at(5))
    with pytest.raises(SilenceError, match="ends_at or a duration"):
        Silence.create({"rule": "a"}, starts_at=at(0))
    with pytest.raises(SilenceError, match="unknown field"):
        Silence.from_document({"matchers": {"rule": "a"}, "duration": "1h", "colour": 1}, now=at(0))
    s = Silence.from_document(
        {"matchers": {"rule": "a"}, "duration": "2h", "comment": "defrost"}, now=at(0)
    )
    assert s.ends_at == at(7200) and s.comment == "defrost" and len(s.id) == 32
    assert Silence.from_document(s.to_document()) == s


def test_expiring_a_pending_silence_makes_it_never_active() -> None:
    silences = book((100, 200))
    expired = silences.expire("s0", at(50))
    assert expired is not None and expired.state(at(50)) == "expired"
    assert not expired.active(at(150))
    assert silences.expire("nope", at(50)) is None


def test_a_library_subscription_takes_silences_too() -> None:
    scheduler = TestScheduler()
    subject: Subject[Event] = Subject()
    got: list[Alert] = []
    RuleSet.from_text(HOT).apply(subject, scheduler, silences=book((0, 60))).subscribe(got.append)
    subject.on_next(event_at(scheduler, 0, "freezer", "-2"))
    scheduler.advance_to(100)
    assert [(a.state, a.at) for a in got] == [("firing", at(60))]


def test_a_held_resolve_goes_out_before_a_firing_at_the_instant_the_silence_ends() -> None:
    """Found by the split/restore property: firing again exactly when the silence ends, the
    receivers are told the old episode resolved, then the new one fires — never two firings
    in a row."""
    rules = rule("key: freezer\nwhen: {above: -10}\nfor: 40s\nresolve: true", "freezer-warm")
    steps = [(0, "freezer", "-2"), (61, "freezer", "-20"), (321, "freezer", "-2")]
    assert run(rules, steps, until=1000, silences=book((61, 361))) == [
        (40, "firing", "freezer", "-2"),
        (361, "resolved", "freezer", "-2"),
        (361, "firing", "freezer", "-2"),
    ]


def test_an_alert_firing_again_inside_a_silence_keeps_its_repeats() -> None:
    """Receivers were told it fires; it resolved and fired again inside the silence: for them
    it never stopped, so its repeats go on after the silence (as after a restart)."""
    rules = rule("key: freezer\nwhen: {above: -10}\nrepeat: 5m\nresolve: true", "freezer-warm")
    steps = [(0, "freezer", "-2"), (61, "freezer", "-20"), (62, "freezer", "-3")]
    assert run(rules, steps, until=700, silences=book((61, 122))) == [
        (0, "firing", "freezer", "-2"),
        (300, "firing", "freezer", "-3"),
        (600, "firing", "freezer", "-3"),
    ]
