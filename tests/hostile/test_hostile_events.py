"""Hostile event payloads: the parser never fails other than MalformedEvent; the live path
skips and counts them and keeps running."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pxrules.events import (
    MAX_PAYLOAD_BYTES,
    MalformedEvent,
    parse_record,
    parse_remove_data,
    parse_set_data,
)
from pxrules.rules import RulesError, load_config
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver

AT = datetime(2025, 1, 1, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"key": json_values, "value": json_values}),
    st.fixed_dictionaries(
        {"key": st.text(min_size=0, max_size=50), "value": st.text(max_size=100)},
        optional={"icon": json_values, "lastUpdate": json_values},
    ),
)


@settings(max_examples=500, deadline=None)
@given(payloads)
def test_parser_accepts_or_raises_malformed_only(payload: Any) -> None:
    try:
        event = parse_set_data(payload, at=AT)
    except MalformedEvent as exc:
        assert exc.code and exc.reason
        return
    assert isinstance(event.key, str) and event.key.strip()
    assert isinstance(event.value, str)
    assert event.number is None or event.number == event.number  # never NaN


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_record_lines_of_random_bytes(raw: bytes) -> None:
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return
    with contextlib.suppress(MalformedEvent):  # anything else would fail the test
        parse_record(record)


def test_huge_and_deep_payloads() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"a": deep}
    for payload in (
        {"key": "k", "value": "v" * (MAX_PAYLOAD_BYTES + 1)},
        {"key": "k" * (MAX_PAYLOAD_BYTES + 1), "value": "1"},
        {"key": "k", "value": deep},
        {"key": deep, "value": "1"},
        {"key": "k", "value": "\udcff"},  # what invalid UTF-8 decodes to with surrogateescape
    ):
        with pytest.raises(MalformedEvent):
            parse_set_data(payload, at=AT)


HOSTILE_LIVE: list[Any] = [
    None, 0, "str", [], [1, [2, [3]]], {"key": None}, {"key": "k", "value": {"$gt": ""}},
    {"key": "k", "value": "x" * 200_000}, {"key": "\u0000", "value": "1"},
    {"key": "k", "value": 1e308}, {"key": ["k"], "value": "1"},
    {"key": "k", "value": True}, {"key": "k", "value": "1", "icon": {"evil": 1}},
    b"\xff\xfe binary attachment",
]  # fmt: skip


def expected_invalid(sent: list[Any]) -> int:
    """How many of the set/remove pairs the parser rejects (as they arrive: JSON round trip)."""
    count = 0
    for payload in sent:
        arrived = payload if isinstance(payload, bytes) else json.loads(json.dumps(payload))
        for parse in (parse_set_data, parse_remove_data):
            try:
                parse(arrived, at=AT)
            except MalformedEvent:
                count += 1
    return count


async def test_daemon_survives_hostile_live_payloads(tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
            f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
            "rules: [{name: r, keys: ['*'], when: {changed: true}, notify: [hook],\n"
            "         message: 'now {{ value }}'}]\n"
        )
        daemon = await DaemonProc(rules, tmp_path / "s.db").start()
        for payload in [*HOSTILE_LIVE, {"key": "k", "value": deep}]:
            await sim.emit_raw("setData", payload)
            await sim.emit_raw("removeData", payload)
        await sim.set("t", "{{ 7*7 }}")  # a value that looks like a template is data
        await sim.set("t", "{% for x in range(10**9) %}x{% endfor %}")
        # Other keys may notify too, in any order: only key t's notification is asserted.
        await rx.requests.wait_for(lambda got: any(r.json()["key"] == "t" for r in got))
        messages = [r.json()["message"] for r in rx.requests.items if r.json()["key"] == "t"]
        assert messages == ["now {% for x in range(10**9) %}x{% endfor %}"]
        invalid = await daemon.metric("pxrules_invalid_events_total")
        assert invalid == expected_invalid([*HOSTILE_LIVE, {"key": "k", "value": deep}])
        code, _ = await daemon.get("/healthz")
        assert code == 200
        assert await daemon.stop() == 0
    assert not any("Traceback" in line for line in daemon.raw)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ values.__class__.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
    ],
)
def test_sandbox_escapes_cannot_reach_run(template: str, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "source: {api_key: k}\nrules: [{name: a, key: k, when: {above: 1}, message: "
        + json.dumps(template)
        + "}]\n"
    )
    with pytest.raises(RulesError) as info:
        load_config(path, env={})  # what `run` loads: the same validation as `check`
    assert "rules[0].message: template" in str(info.value)
