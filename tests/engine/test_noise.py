"""Inhibition, time windows (mute_during / only_during) and flapping, in virtual time with
exact expectations; times are seconds on a TestScheduler, whose clock starts at
1970-01-01T00:00:00Z (a Thursday)."""

from __future__ import annotations

import json
from typing import Any

from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet
from pxrules.engine.gate import Suppressed

from .harness import event_at, run

GATEWAYS = """
inhibit:
  - source: {rule: gateway-offline, key: "gateway/{gw}/status"}
    target: {rule: "*-stale", key: "gateway/{gw}/*"}
    equal: [gw]
rules:
  - {name: gateway-offline, keys: ["gateway/*/status"], when: {equals: offline}, resolve: true}
  - {name: sensor-stale, keys: ["gateway/*/temp"], when: {stale: 5m}, resolve: true}
"""


def test_an_offline_gateway_inhibits_its_own_sensors_only_until_it_is_back() -> None:
    steps = [
        (0, "gateway/g1/status", "online"), (0, "gateway/g1/temp", "20"),
        (0, "gateway/g2/status", "online"), (0, "gateway/g2/temp", "20"),
        (60, "gateway/g1/status", "offline"),
        (600, "gateway/g1/status", "online"),
        (700, "gateway/g1/temp", "21"), (700, "gateway/g2/temp", "21"),
    ]  # fmt: skip
    assert run(GATEWAYS, steps, until=900) == [
        (60, "firing", "gateway/g1/status", "offline"),
        (300, "firing", "gateway/g2/temp", "20"),  # g2 is online: not inhibited
        (600, "resolved", "gateway/g1/status", "online"),
        (600, "firing", "gateway/g1/temp", "20"),  # held while g1 was offline, still stale
        (700, "resolved", "gateway/g1/temp", "21"),
        (700, "resolved", "gateway/g2/temp", "21"),
    ]


def test_a_sensor_that_recovers_while_inhibited_sends_nothing() -> None:
    steps = [
        (0, "gateway/g1/status", "online"), (0, "gateway/g1/temp", "20"),
        (60, "gateway/g1/status", "offline"),
        (400, "gateway/g1/temp", "21"),  # stale at 300 (held), back at 400: nothing to tell
        (600, "gateway/g1/status", "online"),
    ]  # fmt: skip
    assert run(GATEWAYS, steps, until=650) == [
        (60, "firing", "gateway/g1/status", "offline"),
        (600, "resolved", "gateway/g1/status", "online"),
    ]


def test_an_alert_never_inhibits_itself_and_equal_compares_the_captures() -> None:
    rules = """
inhibit:
  - {source: {rule: hot}, target: {rule: hot}, equal: [severity]}
rules:
  - {name: hot, keys: ["t/*"], when: {above: 30}}
"""
    # Two keys of one rule: the first firing inhibits the second (same severity), not itself.
    assert run(rules, [(0, "t/a", "31"), (10, "t/b", "32")]) == [(0, "firing", "t/a", "31")]


NIGHT = """
time_windows:
  night: [{times: ["22:00-06:00"]}]
  work: [{weekdays: [mon-fri], times: ["08:00-18:00"], timezone: UTC}]
rules:
  - {name: fridge-warm, key: fridge, when: {above: 8}, resolve: true, mute_during: [night]}
  - {name: office-door, key: door, when: {equals: open}, only_during: [work]}
"""


def test_mute_during_holds_until_the_window_ends_and_sends_what_is_still_true() -> None:
    steps = [(100, "fridge", "9"),  # 00:01:40, night: held until 06:00
             (22_000, "fridge", "5"),  # 06:06:40: resolved, told (its firing was sent at 06:00)
             (23_000, "fridge", "10")]  # fmt: skip
    assert run(NIGHT, steps, until=30_000) == [
        (21_600, "firing", "fridge", "9"),
        (22_000, "resolved", "fridge", "5"),
        (23_000, "firing", "fridge", "10"),  # day: at once
    ]


def test_a_firing_that_resolves_inside_the_window_sends_nothing() -> None:
    assert run(NIGHT, [(100, "fridge", "9"), (200, "fridge", "4")], until=30_000) == []


def test_only_during_sends_inside_its_windows() -> None:
    # 1970-01-01 is a Thursday: 01:00 is outside work hours (held until 08:00); Saturday is not
    # a work day at all (held until Monday 08:00).
    saturday = 2 * 86_400 + 10 * 3600
    monday_8 = 4 * 86_400 + 8 * 3600
    steps = [(3600, "door", "open"), (40_000, "door", "shut"),
             (saturday, "door", "open")]  # fmt: skip
    assert run(NIGHT, steps, until=monday_8 + 10) == [
        (28_800, "firing", "door", "open"),
        (monday_8, "firing", "door", "open"),
    ]


FLAPPY = """
rules:
  - {name: hum, key: h, when: {above: 70}, resolve: true,
     flapping: {window: 10m, max_changes: 4}}
"""


def flaps(until: int = 300) -> list[tuple[float, str, str | None]]:
    """71 and 60 every 30 s from 0 to ``until`` (71 at even steps), then 71 for good."""
    return [(t, "h", "71" if (t // 30) % 2 == 0 else "60") for t in range(0, until + 1, 30)]


def test_a_flapping_alert_says_so_once_then_waits_to_be_stable_then_says_where_it_settled() -> None:
    got = run(FLAPPY, [*flaps(), (1000, "h", "60")], until=2000)
    assert got == [
        (0, "firing", "h", "71"),
        (30, "resolved", "h", "60"),
        (60, "firing", "h", "71"),
        (90, "resolved", "h", "60"),
        (120, "flapping", "h", "71"),  # the fifth change within 10 minutes
        (900, "firing", "h", "71"),  # stable since 300 (the last change) for the window
        (1000, "resolved", "h", "60"),  # counting starts over after settling
    ]


def _engine(
    rules: str,
    scheduler: TestScheduler,
    got: list[tuple[float, Alert]],
    state: dict[str, Any] | None = None,
    held: list[Suppressed] | None = None,
) -> Engine:
    return Engine(RuleSet.from_text(rules), scheduler, lambda a: got.append((scheduler.clock, a)),
                  state=state, on_suppressed=None if held is None else held.append)  # fmt: skip


def _feed(
    engine: Engine, scheduler: TestScheduler, steps: list[tuple[float, str, str | None]]
) -> None:
    for t, key, value in steps:
        event = event_at(scheduler, t, key, value)
        scheduler.schedule_absolute(t, lambda *_, e=event: engine.on_event(e))


def test_flapping_survives_a_restart() -> None:
    first = TestScheduler()
    got: list[tuple[float, Alert]] = []
    engine = _engine(FLAPPY, first, got)
    _feed(engine, first, flaps(300))
    first.advance_to(400)
    saved = json.loads(json.dumps(engine.snapshot()))
    engine.dispose()
    assert saved["tracks"]["hum"]["h"]["flapping"] is True
    second = TestScheduler(initial_clock=400)
    _engine(FLAPPY, second, got, state=saved)
    second.advance_to(2000)
    assert [(t, a.state) for t, a in got][-2:] == [(120, "flapping"), (900, "firing")]


def test_the_flapping_text_says_what_is_going_on() -> None:
    scheduler = TestScheduler()
    got: list[tuple[float, Alert]] = []
    engine = _engine(FLAPPY, scheduler, got)
    _feed(engine, scheduler, flaps(120))
    scheduler.advance_to(200)
    flapping = got[-1][1]
    assert flapping.state == "flapping" and flapping.title == "hum flapping: h = 71"
    assert flapping.message == (
        "h is flapping: 5 state changes within 10m (now 71); quiet until it is stable for 10m"
    )


def test_every_hold_is_reported_with_its_reason() -> None:
    scheduler = TestScheduler()
    got: list[tuple[float, Alert]] = []
    held: list[Suppressed] = []
    engine = _engine(GATEWAYS, scheduler, got, held=held)
    _feed(engine, scheduler, [(0, "gateway/g1/status", "offline"), (0, "gateway/g1/temp", "1")])
    scheduler.advance_to(400)
    assert [(h.reason, h.rule, h.by) for h in held] == [
        ("inhibited", "sensor-stale", "gateway-offline gateway/g1/status")
    ]
    assert (
        held[0]
        .text_line()
        .endswith(
            "inhibited firing sensor-stale gateway/g1/temp=1 (inhibited by gateway-offline "
            "gateway/g1/status)"
        )
    )
    assert engine.stats.held["inhibited"] == 1


def test_what_flapping_holds_back_is_reported() -> None:
    scheduler = TestScheduler()
    got: list[tuple[float, Alert]] = []
    held: list[Suppressed] = []
    engine = _engine(FLAPPY, scheduler, got, held=held)
    _feed(engine, scheduler, flaps(180))
    scheduler.advance_to(200)
    assert [(h.at, h.reason, h.state) for h in held] == [
        (scheduler.to_datetime(150), "flapping", "resolved"),
        (scheduler.to_datetime(180), "flapping", "firing"),
    ]
    assert held[0].text_line().endswith("(flapping: over 4 changes within 10m)")
    assert engine.stats.held["flapping"] == 2


def test_a_flapping_alert_that_settles_resolved_says_so() -> None:
    # Flapping from 120; the last change at 210 is a resolve; stable until 810: resolved, with
    # the time it settled as its `at`.
    steps = [(t, "h", "71" if (t // 30) % 2 == 0 else "60") for t in range(0, 211, 30)]
    got = run(FLAPPY, steps, until=2000)
    assert got[-2:] == [(120, "flapping", "h", "71"), (810, "resolved", "h", "60")]


def test_exactly_max_changes_is_not_flapping_and_old_changes_leave_the_window() -> None:
    # Four changes (0, 30, 60, 90) are allowed; a fifth 11 minutes later is not the fifth
    # within 10 minutes: the first ones have left the window.
    steps = [(0, "h", "71"), (30, "h", "60"), (60, "h", "71"), (90, "h", "60"),
             (700, "h", "71")]  # fmt: skip
    assert [s for _, s, _, _ in run(FLAPPY, steps, until=2000)] == [
        "firing", "resolved", "firing", "resolved", "firing"
    ]  # fmt: skip


def test_changes_while_flapping_push_the_settling_back() -> None:
    # Flapping from 120; changes go on until 450 (a resolve): it settles 10 minutes after that.
    steps = [(t, "h", "71" if (t // 30) % 2 == 0 else "60") for t in range(0, 451, 30)]
    got = run(FLAPPY, steps, until=3000)
    assert got[-1] == (1050, "resolved", "h", "60")
    assert [s for _, s, _, _ in got].count("flapping") == 1


def test_a_settled_state_inside_a_silence_waits_for_its_end() -> None:
    from pxrules.engine import Silence, SilenceBook

    clock = TestScheduler()
    book = SilenceBook([Silence.create({"rule": "hum"}, starts_at=clock.to_datetime(800),
                                       ends_at=clock.to_datetime(1200))])  # fmt: skip
    steps = flaps(300)  # flapping from 120, settled firing at 900: inside the silence
    assert run(FLAPPY, steps, until=3000, silences=book)[-2:] == [
        (120, "flapping", "h", "71"),
        (1200, "firing", "h", "71"),
    ]
