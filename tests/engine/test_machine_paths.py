"""The state machine's less travelled paths, each checked to the field: what is sent (state,
time, ``since``), what is held back and why, the counters, the timers left armed, and the track
as it would be saved. Written against the mutants ``make mutate`` found surviving: each test
says which behaviour of pxrules/engine/machine.py or timers.py it pins.

Times are seconds on a TestScheduler (1970-01-01T00:00:00Z is 0). Events and actions scheduled
for the same instant run in the order they were scheduled (reactivex's virtual-time queue is
first-in, first-out among equal due times).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest
from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet, Silence, SilenceBook
from pxrules.engine.gate import Suppressed
from pxrules.engine.state import stamp as encode_stamp
from pxrules.engine.tracks import AlertTrack

from .harness import event_at

EPOCH = TestScheduler().to_datetime(0)

Step = tuple[float, str, str | None]


def secs(at: datetime | None) -> float | None:
    return None if at is None else (at - EPOCH).total_seconds()


class Rig:
    """One engine on a TestScheduler, with every notification, every hold and the silences."""

    def __init__(
        self,
        rules: str,
        *,
        silences: Sequence[tuple[dict[str, str], float, float]] = (),
        state: dict[str, Any] | None = None,
        start: float = 0.0,
        emit: Callable[[Alert], None] | None = None,
        track_changes: bool = False,
    ) -> None:
        self.clock = TestScheduler(initial_clock=start)
        self.got: list[tuple[float, Alert]] = []
        self.held: list[Suppressed] = []
        at = self.clock.to_datetime
        self.book = SilenceBook(
            [Silence.create(m, starts_at=at(a), ends_at=at(b)) for m, a, b in silences]
        )
        self.engine = Engine(
            RuleSet.from_text(rules),
            self.clock,
            emit or (lambda a: self.got.append((self.clock.clock, a))),
            state=state,
            silences=self.book if silences else None,
            on_suppressed=self.held.append,
            track_changes=track_changes,
        )

    def feed(self, steps: Sequence[Step]) -> Rig:
        for t, key, value in steps:
            event = event_at(self.clock, t, key, value)
            self.clock.schedule_absolute(t, lambda *_, e=event: self.engine.on_event(e))
        return self

    def at(self, t: float, action: Callable[[], object]) -> Rig:
        self.clock.schedule_absolute(t, lambda *_: action())
        return self

    def run(self, until: float) -> Rig:
        self.clock.advance_to(until)
        return self

    def sent(self) -> list[tuple[float, str, str | None, float | None]]:
        """(time, state, value, since) of each notification."""
        return [(t, a.state, a.value, secs(a.since)) for t, a in self.got]

    def holds(self) -> list[tuple[float | None, str, str, str, str, str | None]]:
        return [(secs(h.at), h.reason, h.state, h.rule, h.key, h.value) for h in self.held]

    def track(self, rule: str = "r", key: str = "k") -> AlertTrack:
        return self.engine.tracks[rule][key]

    def saved(self, rule: str = "r", key: str = "k") -> dict[str, Any]:
        """The track as the state file would get it, times in seconds (None stays None)."""
        doc = self.engine.track_state(rule, key)
        assert doc is not None
        return doc


def stamp(t: float) -> float:
    out = encode_stamp(TestScheduler().to_datetime(t))
    assert out is not None
    return out


def saved_track(**fields: Any) -> dict[str, Any]:
    """A saved track: the defaults of a fresh one, with ``fields`` (times in seconds)."""
    doc: dict[str, Any] = {
        "phase": "inactive", "since": None, "last_fire_notice": None, "notified": False,
        "owed": False, "changes": None, "flapping": False, "last_notice": None,
        "clearing_since": None, "seq": 0, "held_due": None, "stale_origin": None,
    }  # fmt: skip
    for name, value in fields.items():
        if name == "changes":
            value = [stamp(t) for t in value]
        elif isinstance(value, int | float) and not isinstance(value, bool) and name != "seq":
            value = stamp(value)
        doc[name] = value
    return doc


ON_RULE = {"rule": "r"}

# -- counters ---------------------------------------------------------------------------------


def test_unknown_is_counted_once_in_every_phase() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}")
    # inactive with a track (after a resolve), firing, and no track yet: one unknown each
    rig.feed([(0, "k", "n/a"), (10, "k", "75"), (20, "k", "n/a"), (30, "k", "60"),
              (40, "k", "n/a")]).run(100)  # fmt: skip
    assert rig.sent() == [(10, "firing", "75", 10), (30, "resolved", "60", 10)]
    assert rig.engine.stats.unknown == 3


def test_an_event_rule_counts_unknown_and_what_cooldown_holds() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {changed_by: 5}, cooldown: 1m}")
    rig.feed([(0, "k", "10"), (10, "k", "20"), (20, "k", "x"), (30, "k", "40"),
              (40, "k", "50"), (50, "k", "60"), (80, "k", "70")]).run(100)  # fmt: skip
    # 20: not a number (unknown); 30: after x, no previous number (unknown);
    # 40 and 50: within a minute of 10 (held by cooldown); 80: 70 s after 10, sent
    assert rig.sent() == [(10, "firing", "20", 10), (80, "firing", "70", 80)]
    assert (rig.engine.stats.unknown, rig.engine.stats.suppressed) == (2, 2)
    assert rig.engine.stats.alerts == Counter({("r", "firing"): 2})


def test_a_firing_within_cooldown_is_counted_and_leaves_nothing_owed() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, cooldown: 1m, resolve: true}")
    rig.feed([(0, "k", "75"), (10, "k", "60"), (20, "k", "75"), (30, "k", "60"),
              (40, "k", "75")]).run(100)  # fmt: skip
    assert rig.sent() == [(0, "firing", "75", 0), (10, "resolved", "60", 0)]
    assert rig.engine.stats.suppressed == 2  # 20 and 40; the resolve at 30 was never owed
    assert rig.saved() == saved_track(
        phase="firing", since=40, last_fire_notice=0, last_notice=0, seq=2
    )  # two sent (seq numbers the track's notifications)


def test_cooldown_ends_exactly_at_its_length() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, cooldown: 1m, resolve: true}")
    rig.feed([(0, "k", "75"), (10, "k", "60"), (60, "k", "75")]).run(100)
    assert [s for _, s, _, _ in rig.sent()] == ["firing", "resolved", "firing"]


def test_a_firing_sent_and_its_resolve_sent_leave_nothing_owed() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}")
    rig.feed([(0, "k", "75")]).run(5)
    assert rig.saved() == saved_track(phase="firing", since=0, last_fire_notice=0, last_notice=0,
                                      notified=True, seq=1)  # fmt: skip
    rig.feed([(10, "k", "60")]).run(20)
    assert rig.saved() == saved_track(last_fire_notice=0, last_notice=0, seq=2)


def test_every_notification_is_counted_by_rule_and_state() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true, repeat: 1m}")
    rig.feed([(0, "k", "75"), (150, "k", "60")]).run(300)
    assert rig.engine.stats.alerts == Counter({("r", "firing"): 3, ("r", "resolved"): 1})


def test_a_subscriber_that_raises_is_counted_each_time_and_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(_: Alert) -> None:
        raise RuntimeError("subscriber down")

    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}", emit=boom)
    with caplog.at_level(logging.ERROR, logger="pxrules.rules"):
        rig.feed([(0, "k", "75"), (10, "k", "60")]).run(20)
    assert rig.engine.stats.errors == 2
    assert caplog.messages == ["a subscriber of the alert stream raised on rule 'r'"] * 2


# -- timers left behind -----------------------------------------------------------------------


def test_a_pending_alert_that_breaks_leaves_no_timer() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, for: 1m}")
    rig.feed([(0, "k", "75"), (30, "k", "60")]).run(40)
    assert rig.track().timers == {}
    assert rig.saved() == saved_track()


def test_a_retrigger_during_keep_firing_for_cancels_its_timer() -> None:
    rig = Rig(
        "rules:\n  - {name: r, key: k, when: {above: 70}, keep_firing_for: 1m, resolve: true}"
    )
    rig.feed([(0, "k", "75"), (10, "k", "60"), (20, "k", "75")]).run(30)
    assert rig.track().timers == {}
    assert rig.saved()["clearing_since"] is None


def test_between_trigger_and_clear_the_keep_countdown_goes_on() -> None:
    """With ``clear``, a value in the band (neither holding nor clear) does not stop the
    countdown a clear value started; only the condition holding again does."""
    rules = ("rules:\n  - {name: r, key: k, when: {above: 70}, clear: {below: 60},"
             " keep_firing_for: 1m, resolve: true}")  # fmt: skip
    rig = Rig(rules).feed([(0, "k", "75"), (10, "k", "55"), (20, "k", "65")]).run(200)
    assert rig.sent() == [(0, "firing", "75", 0), (70, "resolved", "65", 0)]


def test_a_resolve_cancels_the_keep_and_repeat_timers() -> None:
    rules = ("rules:\n  - {name: r, key: k, when: {above: 70}, clear: {below: 60},"
             " keep_firing_for: 1m, repeat: 5m, resolve: true}")  # fmt: skip
    rig = Rig(rules).feed([(0, "k", "75"), (10, "k", "55")]).run(71)
    assert rig.sent() == [(0, "firing", "75", 0), (70, "resolved", "55", 0)]
    assert rig.track().timers == {}


def test_a_firing_held_by_a_silence_arms_only_its_release() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, repeat: 1m}",
              silences=[(ON_RULE, 0, 90)])  # fmt: skip
    rig.feed([(10, "k", "75")]).run(20)
    assert set(rig.track().timers) == {"release"}
    rig.run(200)
    assert rig.sent() == [(90, "firing", "75", 10), (150, "firing", "75", 10)]


# -- what silences hold, to the field -----------------------------------------------------------


def test_an_event_rule_under_a_silence_is_held_and_reported() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {changed: true}}", silences=[(ON_RULE, 0, 60)])
    rig.feed([(0, "k", "a"), (10, "k", "b"), (70, "k", "c")]).run(100)
    assert rig.holds() == [(10, "silenced", "firing", "r", "k", "b")]
    assert rig.sent() == [(70, "firing", "c", 70)]
    assert rig.saved()["since"] == stamp(70)


def test_repeats_under_a_silence_are_held_then_go_on() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, repeat: 1m}",
              silences=[(ON_RULE, 30, 200)])  # fmt: skip
    rig.feed([(0, "k", "75")]).run(300)
    assert rig.holds() == [(t, "silenced", "firing", "r", "k", "75") for t in (60, 120, 180)]
    assert rig.sent() == [
        (0, "firing", "75", 0),
        (240, "firing", "75", 0),
        (300, "firing", "75", 0),
    ]


def test_a_resolve_held_by_a_silence_is_sent_at_its_end_with_the_episode_start() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}",
              silences=[(ON_RULE, 50, 100)])  # fmt: skip
    rig.feed([(0, "k", "75"), (60, "k", "60")]).run(70)
    assert rig.holds() == [(60, "silenced", "resolved", "r", "k", "60")]
    assert rig.saved() == saved_track(since=0, last_fire_notice=0, last_notice=0,
                                      notified=True, owed=True, seq=1)  # fmt: skip
    rig.run(200)
    assert rig.sent() == [(0, "firing", "75", 0), (100, "resolved", "60", 0)]
    assert rig.saved() == saved_track(last_fire_notice=0, last_notice=0, seq=2)


def test_a_held_resolve_goes_before_a_firing_that_comes_when_the_silence_ends() -> None:
    """The silence ends at 100 and the key fires again at that instant, before the silence's
    release timer runs: the held resolve of the last episode goes first, then the firing."""
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}",
              silences=[(ON_RULE, 50, 100)])  # fmt: skip
    rig.feed([(0, "k", "75"), (60, "k", "60"), (100, "k", "80")]).run(200)
    assert rig.sent() == [(0, "firing", "75", 0), (100, "resolved", "80", 100),
                          (100, "firing", "80", 100)]  # fmt: skip
    assert rig.saved() == saved_track(phase="firing", since=100, last_fire_notice=100,
                                      last_notice=100, notified=True, seq=3)  # fmt: skip


def test_a_held_resolve_released_while_pending_again_keeps_the_new_episode() -> None:
    rules = "rules:\n  - {name: r, key: k, when: {above: 70}, for: 1m, resolve: true}"
    rig = Rig(rules, silences=[(ON_RULE, 100, 200)])
    rig.feed([(0, "k", "75"), (120, "k", "60"), (170, "k", "75")]).run(300)
    # released at 200 while pending since 170: the resolve says 200; the new firing since 170
    assert rig.sent() == [(60, "firing", "75", 0), (200, "resolved", "75", 200),
                          (230, "firing", "75", 170)]  # fmt: skip


# -- flapping, to the field ---------------------------------------------------------------------

FLAPPY = ("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true,"
          " flapping: {window: 10m, max_changes: 4}}")  # fmt: skip


def seesaw(until: int) -> list[Step]:
    """71 and 60 every 30 s from 0 to ``until`` (71 first)."""
    return [(t, "k", "71" if (t // 30) % 2 == 0 else "60") for t in range(0, until + 1, 30)]


def test_flapping_says_since_the_first_change_in_the_window_and_settles_since_the_last() -> None:
    rig = Rig(FLAPPY).feed(seesaw(210)).run(2000)
    assert rig.sent() == [
        (0, "firing", "71", 0), (30, "resolved", "60", 0),
        (60, "firing", "71", 60), (90, "resolved", "60", 60),
        (120, "flapping", "71", 0),
        (810, "resolved", "60", 210),
    ]  # fmt: skip
    assert rig.saved() == saved_track(last_fire_notice=60, last_notice=60, seq=6)
    assert rig.holds() == [
        (150, "flapping", "resolved", "r", "k", "60"),
        (180, "flapping", "firing", "r", "k", "71"),
        (210, "flapping", "resolved", "r", "k", "60"),
    ]


def test_a_flapping_track_keeps_only_max_changes_plus_one() -> None:
    rig = Rig(FLAPPY).feed(seesaw(300)).run(310)
    assert rig.saved()["changes"] == [stamp(t) for t in (180, 210, 240, 270, 300)]


def test_a_change_exactly_a_window_old_has_left_it() -> None:
    steps = [(0, "k", "71"), (30, "k", "60"), (60, "k", "71"), (90, "k", "60"), (600, "k", "71")]
    assert [s for _, s, _, _ in Rig(FLAPPY).feed(steps).run(2000).sent()] == [
        "firing", "resolved", "firing", "resolved", "firing"
    ]  # fmt: skip


def test_flapping_under_a_silence_is_held_as_flapping() -> None:
    rig = Rig(FLAPPY, silences=[(ON_RULE, 100, 5000)]).feed(seesaw(120)).run(130)
    assert rig.holds() == [(120, "silenced", "flapping", "r", "k", "71")]


def test_a_flapping_alert_that_settles_resolved_inside_a_silence_resolves_at_its_end() -> None:
    rig = Rig(FLAPPY, silences=[(ON_RULE, 800, 1200)]).feed(seesaw(210)).run(900)
    assert rig.holds()[-1] == (810, "silenced", "resolved", "r", "k", "60")
    assert rig.saved()["owed"] is True and rig.saved()["notified"] is True
    rig.run(2000)
    assert rig.sent()[-2:] == [(120, "flapping", "71", 0), (1200, "resolved", "60", 210)]
    assert rig.saved() == saved_track(last_fire_notice=60, last_notice=60, seq=6)


def test_a_flapping_alert_that_settles_firing_inside_a_silence_fires_at_its_end() -> None:
    rig = Rig(FLAPPY, silences=[(ON_RULE, 800, 1200)]).feed(seesaw(300)).run(1000)
    assert rig.holds()[-1] == (900, "silenced", "firing", "r", "k", "71")
    assert rig.saved()["notified"] is False and rig.saved()["owed"] is True
    rig.run(2000)
    assert rig.sent()[-1] == (1200, "firing", "71", 300)


def test_what_flapping_holds_of_a_removed_key_has_no_value() -> None:
    """The key is removed (which clears the alert after keep_firing_for) and forgotten; the
    flapping resolve held at the end of the keep is reported without a value."""
    rules = (
        "rules:\n  - {name: r, key: k, when: {equals: 'on'}, clear: {removed: true},"
        " keep_firing_for: 10s, resolve: true, flapping: {window: 10m, max_changes: 2}}"
    )
    steps: list[Step] = [(0, "k", "on"), (5, "k", None), (20, "k", "on"), (25, "k", None)]
    rig = Rig(rules).feed(steps).run(100)
    assert rig.sent() == [(0, "firing", "on", 0), (15, "resolved", None, 0),
                          (20, "flapping", "on", 0)]  # fmt: skip
    assert rig.holds() == [(35, "flapping", "resolved", "r", "k", None)]
    assert rig.engine.stats.errors == 0


def test_a_released_track_is_a_change_for_the_next_checkpoint() -> None:
    rig = Rig("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true}",
              silences=[(ON_RULE, 50, 100)], track_changes=True)  # fmt: skip
    rig.feed([(0, "k", "75"), (60, "k", "60")]).run(90)
    rig.engine.changes()  # taken by a checkpoint
    rig.run(100)  # the release, and nothing else
    released = saved_track(last_fire_notice=0, last_notice=0, seq=2)
    assert rig.engine.changes()["tracks"] == {"r": {"k": released}}


# -- restart ------------------------------------------------------------------------------------


def restored(rules: str, track: dict[str, Any], start: float, value: str = "75") -> Rig:
    """An engine started at ``start`` from a state with ``k`` = ``value`` (set at 0)."""
    state = {"version": 1, "at": stamp(start), "values": {"k": [value, None, False, 0.0, None]},
             "tracks": {"r": {"k": track}}}  # fmt: skip
    return Rig(rules, state=state, start=start)


def test_a_pending_track_of_a_rule_that_lost_its_for_starts_over() -> None:
    rig = restored("rules:\n  - {name: r, key: k, when: {above: 70}}",
                   saved_track(phase="pending", since=0), start=30)  # fmt: skip
    rig.run(500)
    assert rig.sent() == [] and rig.saved() == saved_track()


def test_a_pending_track_due_exactly_at_the_restart_fires_then() -> None:
    rig = restored("rules:\n  - {name: r, key: k, when: {above: 70}, for: 1m}",
                   saved_track(phase="pending", since=0), start=60)  # fmt: skip
    rig.run(500)
    assert rig.sent() == [(60, "firing", "75", 0)]


def test_flapping_of_a_rule_that_no_longer_has_it_is_forgotten() -> None:
    rig = restored("rules:\n  - {name: r, key: k, when: {above: 70}}",
                   saved_track(phase="firing", since=0, notified=True, flapping=True,
                               changes=[0, 30], held_due=40), start=50)  # fmt: skip
    assert rig.saved()["flapping"] is False and rig.saved()["held_due"] is None


def test_a_restored_flapping_alert_sends_no_repeats() -> None:
    rules = ("rules:\n  - {name: r, key: k, when: {above: 70}, resolve: true, repeat: 1m,"
             " flapping: {window: 10m, max_changes: 4}}")  # fmt: skip
    track = saved_track(
        phase="firing",
        since=0,
        notified=True,
        flapping=True,
        changes=[0, 30, 60, 90, 120],
        last_notice=0,
        last_fire_notice=0,
    )
    rig = restored(rules, track, start=130).run(2000)
    assert rig.sent()[0] == (720, "firing", "75", 0)  # settled 10 min after 120, no repeats before
    assert rig.engine.stats.alerts == Counter({("r", "firing"): len(rig.sent())})


def test_a_stale_rule_keeps_its_restored_track() -> None:
    rules = "rules:\n  - {name: r, key: k, when: {stale: 20s}, resolve: true}"
    rig = restored(rules, saved_track(phase="firing", since=20, notified=True,
                                      last_fire_notice=20, last_notice=20), start=30,
                   value="1")  # fmt: skip
    rig.feed([(40, "k", "1")]).run(50)
    assert rig.sent() == [(40, "resolved", "1", 20)]


# -- where ------------------------------------------------------------------------------------


def test_where_on_a_key_never_set_is_false_without_an_error() -> None:
    rules = "rules:\n  - {name: r, key: k, when: {above: 70}, where: {fan: {equals: 'off'}}}"
    rig = Rig(rules).feed([(0, "k", "75"), (10, "fan", "off"), (20, "k", "76")]).run(30)
    assert rig.sent() == [(20, "firing", "76", 20)]
    assert (rig.engine.stats.errors, rig.engine.stats.unknown) == (0, 0)  # false, not unknown


def test_where_compares_the_other_keys_number() -> None:
    rules = "rules:\n  - {name: r, key: k, when: {above: 70}, where: {outside: {below: 20}}}"
    rig = Rig(rules).feed([(0, "outside", "15"), (10, "k", "75")]).run(30)
    assert rig.sent() == [(10, "firing", "75", 10)]
