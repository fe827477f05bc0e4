"""Hostile event payloads: the parser never fails other than MalformedEvent; the live path
skips and counts them and keeps running."""

from __future__ import annotations

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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
plausible_data = st.fixed_dictionaries(
    {"key": st.text(min_size=1, max_size=12), "value": st.text(max_size=12) | st.integers()},
    optional={"lastUpdate": json_values, "icon": json_values},
)
some_data = st.fixed_dictionaries(
    {"key": json_values},
    optional={"value": json_values, "lastUpdate": json_values, "icon": json_values},
)
times = st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T03:00:00+03:00"])
# Mostly plausible records (so the parsed path is exercised), the rest anything JSON.
record_shaped = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["setData", "setData", "removeData", "pushData", ""]),
        "data": plausible_data | plausible_data | some_data | json_values,
        "at": times | times | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(record_shaped)
def test_record_shaped_lines_parse_or_are_refused_with_a_reason(record: dict[str, Any]) -> None:
    """Records as a file would hold them (a JSON round trip): an Event exactly as the record
    says, or a MalformedEvent with a code and a reason — never anything else."""
    arrived = json.loads(json.dumps(record))
    try:
        event = parse_record(arrived)
    except MalformedEvent as exc:
        assert exc.code and exc.reason
        return
    data = arrived["data"]
    assert arrived["event"] in ("setData", "removeData")
    assert event.kind == ("set" if arrived["event"] == "setData" else "remove")
    assert isinstance(data["key"], str) and event.key.strip()
    if event.kind == "set":
        assert event.value == (data["value"] if isinstance(data["value"], str)
                               else event.value)  # fmt: skip
        assert isinstance(event.value, str)
    else:
        assert event.value is None
    assert event.at.tzinfo is not None


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


# Each payload as sent, and which of its setData / removeData the docs say is refused: not an
# object → both; no valid key → both; a value that is neither text nor a number, too large, or an
# icon that is not text → setData only (a removeData needs only the key). Written out by hand,
# not computed by the parser under test.
HOSTILE_LIVE: list[tuple[Any, int]] = [
    (None, 2), (0, 2), ("str", 2), ([], 2), ([1, [2, [3]]], 2), ({"key": None}, 2),
    ({"key": "k", "value": {"$gt": ""}}, 1), ({"key": "k", "value": "x" * 200_000}, 1),
    ({"key": "\u0000", "value": "1"}, 2), ({"key": "k", "value": 1e308}, 0),
    ({"key": ["k"], "value": "1"}, 2), ({"key": "k", "value": True}, 1),
    ({"key": "k", "value": "1", "icon": {"evil": 1}}, 1),
    (b"\xff\xfe binary attachment", 2),
]  # fmt: skip


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
        # The first snapshot applied: one fetched after the sets below but applied before
        # their live events would make the first of them look like a change (seen once in CI).
        await daemon.wait_metric("pxrules_snapshots_total", 1)
        sent = [*HOSTILE_LIVE, ({"key": "k", "value": deep}, 1)]
        for payload, _ in sent:
            await sim.emit_raw("setData", payload)
            await sim.emit_raw("removeData", payload)
        await sim.set("t", "{{ 7*7 }}")  # a value that looks like a template is data
        await sim.set("t", "{% for x in range(10**9) %}x{% endfor %}")
        # Other keys may notify too, in any order: only key t's notification is asserted.
        await rx.requests.wait_for(lambda got: any(r.json()["key"] == "t" for r in got))
        messages = [r.json()["message"] for r in rx.requests.items if r.json()["key"] == "t"]
        assert messages == ["now {% for x in range(10**9) %}x{% endfor %}"]
        invalid = await daemon.metric("pxrules_invalid_events_total")
        assert invalid == sum(refused for _, refused in sent) == 23
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
