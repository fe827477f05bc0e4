"""The built-in titles and messages, through the engine: each case, both languages, one zone.

TestScheduler time 0 is 1970-01-01T00:00:00Z; in Europe/Istanbul that is 02:00:00+02:00.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .harness import rule, run_alerts

IST = "timezone: Europe/Istanbul\n"


def texts(body: str, steps: list[tuple[float, str, str | None]]) -> list[tuple[str, str]]:
    return [(a.title, a.message) for _, a in run_alerts(rule(body), steps)]


def test_firing_and_resolved_in_english() -> None:
    body = "key: humidity\nwhen: {above: 70}\nresolve: true\n" + IST
    assert texts(body, [(0, "humidity", "75"), (200, "humidity", "60")]) == [
        ("r firing: humidity = 75", "humidity is 75 (since 1970-01-01 02:00:00+02:00)"),
        (
            "r resolved: humidity = 60",
            "humidity is 60 now; it was firing from 1970-01-01 02:00:00+02:00 for 3m20s",
        ),
    ]


def test_firing_and_resolved_in_turkish_with_a_description() -> None:
    body = (
        "key: humidity\nwhen: {above: 70}\nresolve: true\nlanguage: tr\n"
        "description: Sera çok nemli\n" + IST
    )
    assert texts(body, [(0, "humidity", "75"), (200, "humidity", "60")]) == [
        (
            "r alarm: humidity = 75",
            "Sera çok nemli: humidity değeri 75 (1970-01-01 02:00:00+02:00 itibarıyla)",
        ),
        (
            "r düzeldi: humidity = 60",
            "Sera çok nemli: humidity şimdi 60; 1970-01-01 02:00:00+02:00 itibarıyla 3m20s "
            "boyunca alarmdaydı",
        ),
    ]


@pytest.mark.parametrize(
    ("language", "closed", "opened"),
    [
        ("en", "door changed from 1 to 0", "door changed from 0 to 1"),
        ("tr", "door 1 değerinden 0 değerine değişti", "door 0 değerinden 1 değerine değişti"),
    ],
)
def test_an_event_rule_says_what_changed(language: str, closed: str, opened: str) -> None:
    body = f"key: door\nwhen: {{changed: true}}\nlanguage: {language}\n"
    assert texts(body, [(0, "door", "1"), (9, "door", "0"), (12, "door", "1")]) == [
        ("r: door = 0", closed),
        ("r: door = 1", opened),
    ]


def test_a_silent_sensor_and_its_return() -> None:
    body = "key: soil\nwhen: {stale: 5m}\nresolve: true\n" + IST
    got = texts(body, [(0, "soil", "35.2"), (320, "soil", "35.0")])
    assert got[:2] == [
        (
            "r firing: soil = 35.2",
            "no reading from soil for 5m (last: 35.2); silent since 1970-01-01 02:05:00+02:00",
        ),
        (
            "r resolved: soil = 35.0",
            "soil reports again: 35.0; it was silent from 1970-01-01 02:05:00+02:00 for 20s",
        ),
    ]


def test_a_silent_sensor_in_turkish() -> None:
    body = "key: soil\nwhen: {stale: 5m}\nlanguage: tr\n" + IST
    assert texts(body, [(0, "soil", "35.2")])[0][1] == (
        "soil için 5m boyunca veri gelmedi (son değer: 35.2); 1970-01-01 02:05:00+02:00 itibarıyla"
    )


def test_a_removed_key() -> None:
    assert texts("key: k\nwhen: {removed: true}\n", [(0, "k", "1"), (5, "k", None)]) == [
        ("r firing: k = None", "k was removed")
    ]


def test_without_a_timezone_times_are_the_machines_local_time_with_its_offset() -> None:
    local = datetime(1970, 1, 1, tzinfo=UTC).astimezone().isoformat(sep=" ", timespec="seconds")
    got = texts("key: h\nwhen: {above: 1}\n", [(0, "h", "2")])
    assert got == [("r firing: h = 2", f"h is 2 (since {local})")]


def test_a_rule_with_its_own_title_keeps_the_built_in_message() -> None:
    body = "key: h\nwhen: {above: 1}\ntitle: 'hot {{ key }}'\n" + IST
    assert texts(body, [(0, "h", "2")]) == [("hot h", "h is 2 (since 1970-01-01 02:00:00+02:00)")]


def test_defaults_set_the_language_for_every_rule() -> None:
    from pxrules.engine import RuleSet

    ruleset = RuleSet.from_text(
        "defaults: {language: tr, timezone: UTC}\n"
        "rules: [{name: a, key: h, when: {above: 1}}, {name: b, key: h, when: {above: 1}, "
        "language: en}]\n"
    )
    got = run_alerts(ruleset, [(0, "h", "2")])
    assert [(a.rule, a.message) for _, a in got] == [
        ("a", "h değeri 2 (1970-01-01 00:00:00+00:00 itibarıyla)"),
        ("b", "h is 2 (since 1970-01-01 00:00:00+00:00)"),
    ]


def test_an_unknown_time_zone_is_a_check_error() -> None:
    from pxrules.rules import load_text

    result = load_text("rules: [{name: a, key: h, when: {above: 1}, timezone: Mars/Olympus}]")
    assert [p.message for p in result.errors] == [
        "unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Istanbul or UTC"
    ]
