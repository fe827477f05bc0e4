from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxrules.events import (
    Event,
    MalformedEvent,
    format_time,
    parse_number,
    parse_record,
    parse_remove_data,
    parse_set_data,
)

AT = datetime(2025, 3, 31, 17, 40, 19, 653000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64.11", 64.11),
        (" -3 ", -3.0),
        ("1e3", 1000.0),
        ("+.5", 0.5),
        ("0", 0.0),
        ("7.", 7.0),
        ("NaN", None),
        ("nan", None),
        ("inf", None),
        ("-Infinity", None),
        ("1e999", None),
        ("", None),
        ("   ", None),
        ("1_000", None),
        ("0x10", None),
        ("١٢", None),  # Arabic-Indic digits: float() takes them, a decimal reading does not
        ("12 3", None),
        ("disabled", None),
        ("Motion detected!", None),
    ],
)
def test_parse_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


def test_set_data_full_payload() -> None:
    payload = {
        "key": "humidity",
        "lastUpdate": "2025-03-31T17:40:19.653Z",
        "icon": "hum",
        "value": "64.11",
    }
    event = parse_set_data(payload, at=AT)
    assert (event.kind, event.key, event.value, event.number, event.icon, event.origin) == (
        "set",
        "humidity",
        "64.11",
        64.11,
        "hum",
        "live",
    )
    assert event.last_update == "2025-03-31T17:40:19.653Z"


def test_numeric_json_value_becomes_string() -> None:
    assert parse_set_data({"key": "t", "value": 21}, at=AT).value == "21"
    assert parse_set_data({"key": "t", "value": 21.5}, at=AT).number == 21.5


def test_keys_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "sıcaklık-é")
    assert decomposed != "sıcaklık-é"
    assert parse_set_data({"key": decomposed, "value": "1"}, at=AT).key == "sıcaklık-é"
    assert parse_remove_data({"key": decomposed}, at=AT).key == "sıcaklık-é"


MALFORMED: list[tuple[str, Any, str]] = [
    ("null", None, "not_object"),
    ("string", "humidity", "not_object"),
    ("list", ["humidity", "1"], "not_object"),
    ("number", 5, "not_object"),
    ("no key", {"value": "1"}, "bad_key"),
    ("numeric key", {"key": 5, "value": "1"}, "bad_key"),
    ("empty key", {"key": "", "value": "1"}, "bad_key"),
    ("blank key", {"key": "   ", "value": "1"}, "bad_key"),
    ("NUL in key", {"key": "a\x00b", "value": "1"}, "bad_key"),
    ("no value", {"key": "k"}, "bad_value"),
    ("null value", {"key": "k", "value": None}, "bad_value"),
    ("bool value", {"key": "k", "value": True}, "bad_value"),
    ("nested object value", {"key": "k", "value": {"a": 1}}, "bad_value"),
    ("nested list value", {"key": "k", "value": [1, 2]}, "bad_value"),
    ("object as key", {"key": {"k": "v"}, "value": "1"}, "bad_key"),
    ("100 KiB value", {"key": "k", "value": "x" * 100 * 1024}, "too_large"),
    ("non-string icon", {"key": "k", "value": "1", "icon": {"x": 1}}, "bad_icon"),
    ("lone surrogate", {"key": "k", "value": "\ud800"}, "bad_unicode"),
]


@pytest.mark.parametrize(("name", "payload", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_set_data(name: str, payload: Any, code: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_set_data(payload, at=AT)
    assert info.value.code == code


def test_value_exactly_at_limit_is_accepted() -> None:
    payload = {"key": "k", "value": "x" * (64 * 1024 - 1)}
    assert parse_set_data(payload, at=AT).value == payload["value"]


def test_record_round_trip() -> None:
    event = parse_set_data(
        {"key": "sıcaklık", "value": "21.5", "icon": "t", "lastUpdate": format_time(AT)}, at=AT
    )
    line = json.dumps(event.to_record(), ensure_ascii=False)
    again = parse_record(json.loads(line))
    assert (again.kind, again.key, again.value, again.at, again.icon, again.origin) == (
        "set",
        "sıcaklık",
        "21.5",
        AT,
        "t",
        "replay",
    )
    removed = parse_remove_data({"key": "k"}, at=AT)
    assert parse_record(removed.to_record()).kind == "remove"


def test_record_at_defaults_to_last_update() -> None:
    record = {
        "event": "setData",
        "data": {"key": "h", "value": "1", "lastUpdate": "2025-01-01T00:00:00Z"},
    }
    assert parse_record(record).at == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "record",
    [
        {"event": "removeData", "data": {"key": "h"}},
        {"event": "setData", "data": {"key": "h", "value": "1"}},
        {"event": "setData", "data": {"key": "h", "value": "1"}, "at": "yesterday"},
        {"event": "bogus", "data": {}, "at": "2025-01-01T00:00:00Z"},
        [],
    ],
)
def test_bad_records(record: Any) -> None:
    with pytest.raises(MalformedEvent):
        parse_record(record)


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_format_time_equals_isoformat_in_utc(moment: datetime, offset_minutes: int) -> None:
    """format_time caches the text up to the second; it must equal the plain formatting for
    any instant, given in UTC or in another offset."""
    expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    shifted = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert format_time(moment) == expected
    assert format_time(shifted) == expected


def test_the_parsers_event_equals_the_dataclass_constructor() -> None:
    """Parsers build Events by writing slots; every field lands where the constructor puts it."""
    import dataclasses

    payload = {"key": "k", "value": "7.5", "icon": "ic", "lastUpdate": "2025-01-01T00:00:00Z"}
    built = parse_set_data(payload, at=AT, origin="snapshot")
    expected = Event("set", "k", "7.5", AT, 7.5, "ic", "snapshot", "2025-01-01T00:00:00Z")
    assert dataclasses.astuple(built) == dataclasses.astuple(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.value = "8"  # type: ignore[misc]


def test_an_event_built_by_hand_gets_its_number_from_its_value() -> None:
    """A library user's test event must match numeric rules as a received one does."""
    assert Event("set", "t", "85", AT).number == 85.0
    assert Event("set", "t", " 1e3 ", AT).number == 1000.0
    assert Event("set", "t", "open", AT).number is None
    assert Event("remove", "t", None, AT).number is None
    assert Event("set", "t", "85", AT, 85.0) == Event("set", "t", "85", AT)


def test_an_event_whose_number_contradicts_its_value_is_refused() -> None:
    with pytest.raises(ValueError, match="does not match value '85'"):
        Event("set", "t", "85", AT, 80.0)
    with pytest.raises(ValueError, match="does not match"):
        Event("set", "t", "open", AT, 1.0)


def test_a_hand_built_event_fires_a_numeric_rule() -> None:
    from reactivex.subject import Subject
    from reactivex.testing import TestScheduler

    from pxrules import RuleSet

    rules = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 80}}]")
    scheduler = TestScheduler()
    events: Subject[Event] = Subject()
    got: list[str] = []
    rules.apply(events, scheduler).subscribe(lambda alert: got.append(alert.state))
    events.on_next(Event(kind="set", key="t", value="85", at=scheduler.now))
    assert got == ["firing"]
