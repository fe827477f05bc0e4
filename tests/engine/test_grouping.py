"""Grouping and notifier time windows (pxrules.engine.buffers) behind a real engine, in virtual
time; times are seconds on a TestScheduler (epoch 1970-01-01T00:00:00Z, a Thursday)."""

from __future__ import annotations

import json
from typing import Any

from reactivex.testing import TestScheduler

from pxrules.engine import Engine, RuleSet, Silence, SilenceBook
from pxrules.engine.buffers import Buffers

from .harness import event_at

HOOK = 'webhook: {url: "http://127.0.0.1:9/hook"}'
Sent = tuple[float, str, str]


class Run:
    """An engine whose alerts go to their notifiers: buffered ones through Buffers."""

    def __init__(self, rules: str, silences: SilenceBook | None = None,
                 scheduler: TestScheduler | None = None,
                 groups: list[tuple[str, str, dict[str, Any]]] | None = None) -> None:  # fmt: skip
        self.ruleset = RuleSet.from_text(rules)
        config = self.ruleset.config
        self.scheduler = scheduler or TestScheduler()
        self.sent: list[tuple[float, str, dict[str, Any]]] = []
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self.buffers = Buffers(
            config.buffered, config.time_windows, self.scheduler, self._out,
            event_rules={r.name for r in config.rules if r.is_event_rule},
            on_change=self._store,
        )  # fmt: skip
        if groups:
            self.buffers.restore(iter(groups))
        self.notify = {r.name: r.notify for r in config.rules}
        self.engine = Engine(self.ruleset, self.scheduler, self._alert, silences=silences)

    def _out(self, notifier: str, doc: dict[str, Any]) -> None:
        self.sent.append((self.scheduler.clock, notifier, doc))

    def _store(self, notifier: str, key: str, data: dict[str, Any] | None) -> None:
        if data is None:
            self.stored.pop((notifier, key), None)
        else:
            self.stored[(notifier, key)] = json.loads(json.dumps(data))

    def _alert(self, alert: Any) -> None:
        doc = alert.to_document()
        for notifier in self.notify[alert.rule]:
            if self.buffers.wants(notifier):
                self.buffers.add(notifier, doc)
            else:
                self._out(notifier, doc)

    def feed(self, steps: list[tuple[float, str, str | None]]) -> Run:
        for t, key, value in steps:
            event = event_at(self.scheduler, t, key, value)
            self.scheduler.schedule_absolute(t, lambda *_, e=event: self.engine.on_event(e))
        return self

    def until(self, t: float) -> list[Sent]:
        self.scheduler.advance_to(t)
        return [(t, n, summary(d)) for t, n, d in self.sent]


def summary(doc: dict[str, Any]) -> str:
    if "alerts" in doc:
        alerts = " ".join(f"{a['state'][0]}:{a['key']}" for a in doc["alerts"])
        return f"{doc['group_key']} {doc['status']} [{alerts}]"
    return f"{doc['state']} {doc['key']}"


GATEWAY = f"""
notifiers:
  phone:
    {HOOK}
    group: {{by: ["gateway/{{gw}}/*"], wait: 30s, interval: 5m}}
rules:
  - {{name: sensor-stale, keys: ["gateway/*/*"], when: {{stale: 10m}}, resolve: true,
     notify: [phone]}}
"""


def test_forty_sensors_of_a_dead_gateway_are_one_notification() -> None:
    steps = [(0, f"gateway/g{g}/s{i:02d}", "1") for g in (1, 2) for i in range(20)]
    steps += [(0, "gateway/g2/s00", "1")] + [
        (t, "gateway/g2/s00", "1") for t in range(60, 1200, 60)
    ]
    got = Run(GATEWAY).feed(steps).until(1000)
    # g1's twenty sensors went stale at 600: one notification 30 s later. g2's s00 kept
    # reporting, so g2's group has its nineteen others only.
    assert [(t, text.split(" [")[0]) for t, _, text in got] == [
        (630, 'phone{gw="g1"} firing'),
        (630, 'phone{gw="g2"} firing'),
    ]
    g1 = got[0][2]
    assert g1.count("f:gateway/g1/") == 20 and "s00" not in got[1][2].split("[")[1][:20]
    assert got[1][2].count("f:gateway/g2/") == 19


def test_later_changes_wait_for_the_interval_and_resolves_go_out_once() -> None:
    steps = [(0, "gateway/g1/a", "1"), (0, "gateway/g1/b", "1"),
             (700, "gateway/g1/a", "2"),  # a back at 700: within the interval after 630
             (1000, "gateway/g1/b", "2")]  # fmt: skip
    got = Run(GATEWAY).feed(steps).until(1400)
    assert got == [
        (630, "phone", 'phone{gw="g1"} firing [f:gateway/g1/a f:gateway/g1/b]'),
        (930, "phone", 'phone{gw="g1"} firing [f:gateway/g1/b r:gateway/g1/a]'),
        (1230, "phone", 'phone{gw="g1"} resolved [r:gateway/g1/b]'),
        # a is silent again from 1300: its group was over, so a new one waits 30 s
        (1330, "phone", 'phone{gw="g1"} firing [f:gateway/g1/a]'),
    ]


def test_a_group_survives_a_restart() -> None:
    first = Run(GATEWAY).feed([(0, "gateway/g1/a", "1")])
    assert first.until(610) == []  # stale at 600, the group waits until 630
    stored = [(n, k, d) for (n, k), d in first.stored.items()]
    assert len(stored) == 1
    second = Run(GATEWAY, scheduler=TestScheduler(initial_clock=620), groups=stored)
    assert second.until(700) == [(630, "phone", 'phone{gw="g1"} firing [f:gateway/g1/a]')]


def test_a_silenced_alert_joins_its_group_when_the_silence_ends() -> None:
    clock = TestScheduler()
    silence = Silence.create(
        {"key": "gateway/g1/b"}, starts_at=clock.to_datetime(0), ends_at=clock.to_datetime(900)
    )
    silences = SilenceBook([silence])
    steps = [(0, "gateway/g1/a", "1"), (0, "gateway/g1/b", "1")]
    got = Run(GATEWAY, silences).feed(steps).until(2000)
    assert got == [
        (630, "phone", 'phone{gw="g1"} firing [f:gateway/g1/a]'),
        (930, "phone", 'phone{gw="g1"} firing [f:gateway/g1/a f:gateway/g1/b]'),
    ]


QUIET = f"""
time_windows:
  night: [{{times: ["00:00-06:00"]}}]
notifiers:
  phone:
    {HOOK}
    mute_during: [night]
  team:
    {HOOK}
    mute_during: [night]
    group: {{by: [rule], wait: 1m, interval: 10m}}
rules:
  - {{name: hot, keys: ["t/*"], when: {{above: 30}}, resolve: true, notify: [phone, team]}}
"""


def test_a_muted_notifier_is_told_at_the_window_end_what_is_still_true() -> None:
    steps = [
        (100, "t/a", "31"),  # fires in the night, still firing at 06:00
        (200, "t/b", "32"),
        (300, "t/b", "20"),  # fires and resolves inside: nothing
        (22_000, "t/a", "20"),  # day: at once (phone); team 10 min after its last one
    ]
    got = Run(QUIET).feed(steps).until(30_000)  # fmt: skip
    assert got == [
        (21_600, "phone", "firing t/a"),
        (21_600, "team", 'team{rule="hot"} firing [f:t/a]'),
        (22_000, "phone", "resolved t/a"),
        (22_200, "team", 'team{rule="hot"} resolved [r:t/a]'),
    ]


def test_a_resolve_inside_the_window_of_a_firing_told_before_is_sent_at_its_end() -> None:
    steps = [
        (-600 + 86_400, "t/a", "31"),  # 23:50 day 1: phone told at once
        (86_400 + 600, "t/a", "20"),
    ]  # 00:10 day 2: muted until 06:00
    got = Run(QUIET).feed([(t, k, v) for t, k, v in steps]).until(86_400 + 30_000)
    assert [(t, n, s) for t, n, s in got if n == "phone"] == [
        (85_800, "phone", "firing t/a"),
        (86_400 + 21_600, "phone", "resolved t/a"),
    ]


EVENTS = f"""
notifiers:
  team:
    {HOOK}
    group: {{by: [rule], wait: 30s}}
rules:
  - {{name: door, key: door, when: {{changed: true}}, notify: [team]}}
"""


def test_an_event_rule_match_is_listed_once() -> None:
    steps = [(0, "door", "shut"), (10, "door", "open"), (20, "door", "shut"),
             (400, "door", "open")]  # fmt: skip
    got = Run(EVENTS).feed(steps).until(1000)
    assert got == [
        (40, "team", 'team{rule="door"} firing [f:door f:door]'),
        (430, "team", 'team{rule="door"} firing [f:door]'),
    ]
