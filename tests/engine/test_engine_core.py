"""Keys, globs, the alert document, isolation of failures, snapshot shape."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from pxrules.alerts import Alert, fingerprint
from pxrules.engine import Engine, RuleSet
from pxrules.events import Event

from .harness import event_at, rule, run, run_alerts


def test_glob_rules_keep_1000_independent_states() -> None:
    ruleset = RuleSet.from_text(rule("keys: ['sensor/*']\nwhen: {above: 70}\nresolve: true"))
    steps = [(i, f"sensor/{i}", "71") for i in range(1000)]
    steps += [(2000 + i, f"sensor/{i}", "10") for i in range(0, 1000, 2)]  # resolve the even ones
    got = run(ruleset, steps)
    assert len(got) == 1500
    assert {k for _, s, k, _ in got if s == "resolved"} == {
        f"sensor/{i}" for i in range(0, 1000, 2)
    }
    assert len({k for _, s, k, _ in got if s == "firing"}) == 1000


def test_a_key_matched_by_several_rules() -> None:
    rules = (
        "rules:\n"
        "  - {name: exact, key: a/1, when: {above: 1}}\n"
        "  - {name: glob, keys: ['a/*'], when: {above: 1}}\n"
        "  - {name: other, keys: ['b/*'], when: {above: 1}}\n"
    )
    got = run_alerts(rules, [(0, "a/1", "5")])
    assert sorted(a.rule for _, a in got) == ["exact", "glob"]


def test_alert_document_fields() -> None:
    rules = rule(
        "key: humidity\ndescription: Too humid\nwhen: {above: 70}\nfor: 1m\nseverity: critical\n"
        "resolve: true\ntitle: '{{ key }} high'\n"
        "message: '{{ description }}: {{ value }} (was {{ previous }}) since {{ since }}'",
        name="hum",
    )
    got = run_alerts(
        rules, [(0, "humidity", "69"), (10, "humidity", "71"), (100, "humidity", "60")]
    )
    (t1, firing), (t2, resolved) = got
    assert (t1, t2) == (70, 100)
    doc = firing.to_document()
    assert doc["version"] == "1" and doc["rule"] == "hum" and doc["key"] == "humidity"
    assert doc["state"] == "firing" and doc["severity"] == "critical"
    assert (doc["value"], doc["number"], doc["previous"]) == ("71", 71.0, "69")
    assert doc["since"] == "1970-01-01T00:00:10.000Z" and doc["at"] == "1970-01-01T00:01:10.000Z"
    assert doc["title"] == "humidity high"
    assert doc["message"] == "Too humid: 71 (was 69) since 1970-01-01T00:00:10.000Z"
    assert firing.fingerprint == resolved.fingerprint == fingerprint("hum", "humidity")
    assert firing.id != resolved.id
    assert resolved.since == firing.since


def test_event_values_are_data_not_templates() -> None:
    rules = rule("key: k\nwhen: {changed: true}\nmessage: 'now {{ value }}'")
    got = run_alerts(rules, [(0, "k", "a"), (1, "k", "{{ 7*7 }}{% raw %}")])
    assert got[0][1].message == "now {{ 7*7 }}{% raw %}"


def test_template_error_at_runtime_still_delivers(caplog: pytest.LogCaptureFixture) -> None:
    rules = rule("key: k\nwhen: {above: 1}\nmessage: '{{ values.window }}'")
    got = run_alerts(rules, [(0, "k", "5")])  # window never set: undefined at render time
    assert len(got) == 1 and got[0][1].message == "r firing: k = 5"
    assert "message template failed" in caplog.text


def test_values_template_sees_latest_values() -> None:
    rules = rule("key: k\nwhen: {above: 1}\nmessage: 'window {{ values.window }}'")
    assert run_alerts(rules, [(0, "window", "open"), (1, "k", "5")])[0][1].message == "window open"


def test_a_raising_subscriber_does_not_kill_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = TestScheduler()
    subject: Subject[Event] = Subject()
    ruleset = RuleSet.from_text(rule("keys: ['*']\nwhen: {above: 1}"))
    got: list[Alert] = []

    def flaky(alert: Alert) -> None:
        if alert.key == "boom":
            raise RuntimeError("subscriber bug")
        got.append(alert)

    engine = Engine(ruleset, scheduler, flaky)
    subject.subscribe(engine.on_event)
    with caplog.at_level(logging.ERROR):
        for t, key in enumerate(["a", "boom", "b"]):
            subject.on_next(event_at(scheduler, t, key, "5"))
    assert [a.key for a in got] == ["a", "b"]
    assert engine.stats.errors == 1


def test_unknown_counted() -> None:
    scheduler = TestScheduler()
    engine = Engine(RuleSet.from_text(rule("key: h\nwhen: {above: 1}")), scheduler, lambda a: None)
    for value in ["ERR", "", "NaN", "2"]:
        engine.on_event(event_at(scheduler, 0, "h", value))
    assert (engine.stats.evaluations, engine.stats.unknown) == (4, 3)


def test_snapshot_is_plain_json_data() -> None:
    import json

    scheduler = TestScheduler()
    ruleset = RuleSet.from_text(rule("key: h\nwhen: {above: 1}\nfor: 1m"))
    engine = Engine(ruleset, scheduler, lambda a: None)
    engine.on_event(event_at(scheduler, 0, "h", "5"))
    snap = json.loads(json.dumps(engine.snapshot()))
    assert snap["values"]["h"][0] == "5"
    assert snap["tracks"]["r"]["h"]["phase"] == "pending"


def test_rules_for_is_memoised_and_ignores_unrelated_keys() -> None:
    text = "rules:\n" + "".join(
        f"  - {{name: r{i}, key: k{i}, when: {{above: 1}}}}\n" for i in range(100)
    )
    ruleset = RuleSet.from_text(text)
    assert [r.name for r in ruleset.rules_for("k42")] == ["r42"]
    assert ruleset.rules_for("nope") == ()
    assert ruleset.rules_for("k42") is ruleset.rules_for("k42")


def test_timeout_scheduler_default_is_used_without_a_scheduler() -> None:
    """No scheduler at all: a `for` timer still runs (on reactivex's TimeoutScheduler, in its
    own thread), so the alert arrives from that thread once the wait is over."""
    ruleset = RuleSet.from_text(rule("key: h\nwhen: {above: 1}\nfor: 50ms"))
    subject: Subject[Event] = Subject()
    got: list[tuple[Alert, str]] = []
    fired = threading.Event()

    def on_alert(alert: Alert) -> None:
        got.append((alert, threading.current_thread().name))
        fired.set()

    ruleset.apply(subject).subscribe(on_alert)
    subject.on_next(Event("set", "h", "5", datetime.now(UTC), 5.0))
    assert got == []  # pending: nothing yet, the timer has not run
    assert fired.wait(10), "the for timer never fired"
    ((alert, thread),) = got
    assert alert.state == "firing" and thread != threading.current_thread().name
    assert (alert.at - alert.since).total_seconds() >= 0.05


def test_stale_and_for_together() -> None:
    both = rule("key: s\nwhen: {stale: 1m}\nfor: 30s\nresolve: true")
    assert run(both, [(0, "s", "1"), (200, "s", "2")], until=400) == [
        (90, "firing", "s", "1"),
        (200, "resolved", "s", "2"),
        (290, "firing", "s", "2"),
    ]


def test_changes_are_what_was_touched_since_last_time() -> None:
    scheduler = TestScheduler()
    rules = (
        "rules:\n  - {name: a, keys: ['*'], when: {above: 5}}\n"
        "  - {name: b, key: x, when: {above: 1}}\n"
    )
    engine = Engine(RuleSet.from_text(rules), scheduler, lambda a: None, track_changes=True)
    engine.on_event(event_at(scheduler, 0, "x", "2"))  # b fires (a track); a stays idle
    engine.on_event(event_at(scheduler, 0, "y", "9"))  # a fires for y
    first = engine.changes()
    assert set(first["values"]) == {"x", "y"}
    assert {r: set(k) for r, k in first["tracks"].items()} == {"a": {"y"}, "b": {"x"}}
    engine.on_event(event_at(scheduler, 1, "z", "1"))
    second = engine.changes()
    assert set(second["values"]) == {"z"} and second["tracks"] == {}
    assert engine.changes()["values"] == {}


def test_times_are_formatted_only_for_templates_that_show_them() -> None:
    rules = rule("key: k\nwhen: {above: 1}\nfor: 1m\ntitle: 'at {{ at }}'\nmessage: '{{ key }}'")
    compiled = RuleSet.from_text(rules).rules[0]
    assert compiled.renders == {"at", "key"}
    ((_, alert),) = run_alerts(rules, [(0, "k", "5")], until=100)
    assert alert.title == "at 1970-01-01T00:01:00.000Z" and alert.message == "k"


def test_new_alert_equals_the_dataclass_constructor() -> None:
    import dataclasses

    from pxrules.alerts import new_alert

    at = datetime(2025, 3, 1, tzinfo=UTC)
    fields = ("i", "f", "r", "k", "firing", "warning", "7", 7.0, None, at, at, "t", "m")
    built = new_alert(*fields)  # type: ignore[arg-type]
    assert built == Alert(*fields)  # type: ignore[arg-type]
    assert built.version == "1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.title = "changed"  # type: ignore[misc]


def test_a_resolve_on_an_existing_track_counts_as_a_change() -> None:
    scheduler = TestScheduler()
    engine = Engine(
        RuleSet.from_text(rule("key: x\nwhen: {above: 1}\nresolve: true")),
        scheduler,
        lambda a: None,
        track_changes=True,
    )
    engine.on_event(event_at(scheduler, 0, "x", "2"))
    assert engine.changes()["tracks"]["r"]["x"]["phase"] == "firing"
    engine.on_event(event_at(scheduler, 1, "x", "0"))
    assert engine.changes()["tracks"]["r"]["x"]["phase"] == "inactive"


def test_alert_ids_are_unique_per_notification_and_salted() -> None:
    """Ids are the rule+key's base (its fingerprint, or a salted hash of it) and the sequence
    number; the engine's equal alerts.alert_id, and another salt gives other ids."""
    from pxrules.alerts import alert_id

    rules = RuleSet.from_text(rule("keys: ['k*']\nwhen: {above: 1}\nresolve: true"))
    ids: dict[str, list[str]] = {}
    for salt in ("", "s1", "s2"):
        scheduler = TestScheduler()
        got: list[Alert] = []
        engine = Engine(rules, scheduler, got.append, id_salt=salt)
        for t, (key, value) in enumerate([("k1", "5"), ("k1", "0"), ("k2", "5"), ("k1", "7")]):
            engine.on_event(event_at(scheduler, t, key, value))
        seq = {"k1": 0, "k2": 0}
        for alert in got:
            seq[alert.key] += 1
            assert alert.id == alert_id(fingerprint("r", alert.key), seq[alert.key], salt)
            assert len(alert.id) == 32 and int(alert.id, 16) >= 0
        ids[salt] = [a.id for a in got]
        assert len(set(ids[salt])) == 4
    assert not set(ids[""]) & set(ids["s1"]) and not set(ids["s1"]) & set(ids["s2"])


def test_changes_in_pieces_hand_out_everything_once() -> None:
    scheduler = TestScheduler()
    rules = RuleSet.from_text(rule("keys: ['*']\nwhen: {above: 5}\nresolve: true"))
    engines = [Engine(rules, scheduler, lambda a: None, track_changes=True) for _ in range(2)]
    for engine in engines:
        for i in range(23):
            engine.on_event(event_at(scheduler, 0, f"k{i}", str(i)))  # 17 of them fire
    whole = engines[0].changes()
    piecewise = engines[1]
    assert piecewise.pending_changes == 23 + 17
    values: dict[str, object] = {}
    tracks: dict[str, object] = {}
    pieces = 0
    while piecewise.pending_changes:
        piece = piecewise.changes(limit=7)
        assert len(piece["values"]) + sum(len(t) for t in piece["tracks"].values()) <= 7
        values.update(piece["values"])
        tracks.update(piece["tracks"].get("r", {}))
        pieces += 1
    assert pieces == 6  # ceil(40 / 7)
    assert values == whole["values"] and tracks == whole["tracks"]["r"]
    assert piecewise.changes() == {"version": 1, "values": {}, "tracks": {}}
