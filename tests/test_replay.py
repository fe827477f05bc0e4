"""`pxrules replay` and the equivalence of live and replayed evaluation."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reactivex.scheduler.eventloop import AsyncIOScheduler

from pxrules.alerts import Alert
from pxrules.cli.main import cli
from pxrules.cli.replay import run_replay
from pxrules.engine import RuleSet
from pxrules.events import Event
from pxrules.source import PxServSource
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY, FAST
from .helpers import Collector

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules.example.yaml"
GREENHOUSE = ROOT / "tests" / "fixtures" / "replay" / "greenhouse.jsonl"

EXPECTED_TIMELINE = """\
2025-03-31T17:41:35.000Z firing door-activity door=1
2025-03-31T17:42:35.000Z firing greenhouse-humidity humidity=73.1
2025-03-31T17:43:50.000Z firing controller-error controller/status=ERR-17 overheated
2025-03-31T17:43:56.000Z firing door-activity door=0
2025-03-31T17:44:25.000Z resolved greenhouse-humidity humidity=64.2
2025-03-31T17:50:00.000Z firing soil-sensor-silent soil=35.2
2025-03-31T17:50:20.000Z resolved soil-sensor-silent soil=35.0
2025-03-31T18:00:20.000Z firing soil-sensor-silent soil=35.0
"""


def replay_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["replay", *args], env={"PXSERV_API_KEY": None})
    return result.exit_code, result.stdout, result.stderr


def test_example_rules_on_recorded_greenhouse() -> None:
    code, out, err = replay_cli(str(EXAMPLE), str(GREENHOUSE))
    assert code == 0, err
    assert out == EXPECTED_TIMELINE
    # replay delivers nothing, so the unset API key is only a warning
    assert "warning: source.api_key: environment variable PXSERV_API_KEY is not set" in err


def test_json_format_prints_alert_documents() -> None:
    code, out, _ = replay_cli("--format", "json", str(EXAMPLE), str(GREENHOUSE))
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert [f"{d['at']} {d['state']} {d['rule']} {d['key']}={d['value']}" for d in docs] == (
        EXPECTED_TIMELINE.splitlines()
    )
    first = docs[0]
    assert set(first) == {
        "version", "id", "fingerprint", "project", "rule", "key", "state", "severity", "value",
        "number", "previous", "since", "at", "title", "message",
    }  # fmt: skip
    assert first["project"] == "rules.example"  # the rules file's name: it names no project
    assert (first["previous"], first["message"]) == ("0", "door is now open (was 0)")


def test_invalid_lines_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = GREENHOUSE.read_text(encoding="utf-8").splitlines()
    lines = [
        good[0],
        "{not json",
        '{"event": "removeData", "data": {"key": "door"}}',
        "",
        '{"event": "setData", "data": {"key": 5, "value": "1"}, "at": "2025-03-31T17:40:00Z"}',
        *good[1:],
    ]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = replay_cli(str(EXAMPLE), str(events))
    assert code == 1
    assert f"{events}:2: error: not JSON" in err
    assert f"{events}:3: error: removeData record needs 'at'" in err
    assert f"{events}:5: error:" in err
    assert out == EXPECTED_TIMELINE  # the valid records were all replayed


def test_invalid_rules_exit_1(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("rules: [{name: a, key: k, when: {abvoe: 1}}]\n", encoding="utf-8")
    code, out, err = replay_cli(str(rules), str(GREENHOUSE))
    assert code == 1 and out == ""
    assert "rules[0].when.abvoe: unknown field 'abvoe'" in err


def test_out_of_order_records_are_replayed_at_the_current_time(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    records = [
        {"event": "setData", "data": {"key": "door", "value": "0"}, "at": "2025-01-01T00:01:00Z"},
        {"event": "setData", "data": {"key": "door", "value": "1"}, "at": "2025-01-01T00:00:00Z"},
    ]
    events.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: door-activity, key: door, when: {changed: true}}]\n")
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(rules, events, "text", False, out, err) == 0
    assert out.getvalue() == "2025-01-01T00:01:00.000Z firing door-activity door=1\n"
    assert "1 records went back in time" in err.getvalue()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


E2E_RULES = """
rules:
  - {name: door, key: door, when: {changed: true}}
  - {name: humid, key: humidity, when: {above: 70}, clear: {below: 65}, resolve: true}
  - {name: zones, keys: ['zone/*'], when: {in: [ALARM, FAULT]}, resolve: true}
"""


async def test_live_engine_and_replay_of_its_recording_agree(
    sim: Simulator, tmp_path: Path
) -> None:
    """Simulator → PxServSource → RuleSet.apply on asyncio, recorded; then replayed."""
    ruleset = RuleSet.from_text(E2E_RULES)
    recording: list[Event] = []
    live: Collector[Alert] = Collector()
    async with PxServSource(api_key=API_KEY, url=sim.url, snapshot=False, backoff=FAST) as src:
        src.events.subscribe(recording.append)
        ruleset.apply(src.events, AsyncIOScheduler(asyncio.get_running_loop())).subscribe(live)
        await src.wait_connected()
        script = [
            ("door", "0"), ("humidity", "60"), ("door", "1"), ("humidity", "71"),
            ("zone/1", "OK"), ("humidity", "67"), ("zone/1", "ALARM"), ("zone/2", "FAULT"),
            ("humidity", "64"), ("door", "0"), ("zone/1", "OK"), ("sıcaklık", "20"),
        ]  # fmt: skip
        for key, value in script:
            await sim.set(key, value)
        await sim.remove("zone/2")  # value tests are unknown after a remove: zone/2 stays firing
        await sim.set("marker", "end")
        await asyncio.wait_for(
            _until(lambda: bool(recording) and recording[-1].key == "marker"), 10
        )
        await live.wait_count(7)
    rules = tmp_path / "rules.yaml"
    rules.write_text(E2E_RULES, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(json.dumps(e.to_record(), ensure_ascii=False) + "\n" for e in recording),
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(rules, events, "json", False, out, err) == 0, err.getvalue()
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    transitions = [(a.state, a.rule, a.key, a.value, a.previous) for a in live.items]
    assert transitions == [
        ("firing", "door", "door", "1", "0"),
        ("firing", "humid", "humidity", "71", "60"),
        ("firing", "zones", "zone/1", "ALARM", "OK"),
        ("firing", "zones", "zone/2", "FAULT", None),
        ("resolved", "humid", "humidity", "64", "67"),
        ("firing", "door", "door", "0", "1"),
        ("resolved", "zones", "zone/1", "OK", "ALARM"),
    ]
    assert [(d["state"], d["rule"], d["key"], d["value"], d["previous"]) for d in replayed] == (
        transitions
    )
    assert [d["id"] for d in replayed] == [a.id for a in live.items]


async def test_replay_send_delivers_through_the_notifiers(tmp_path: Path) -> None:
    from .receiver import Receiver

    async with Receiver() as rx:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
            "rules: [{name: door-activity, key: door, when: {changed: true}, notify: [hook]}]\n",
            encoding="utf-8",
        )
        out, err = io.StringIO(), io.StringIO()
        code = await asyncio.to_thread(run_replay, rules, GREENHOUSE, "text", True, out, err)
        assert code == 0, err.getvalue()
    assert [r.json()["value"] for r in rx.to("/hook")] == ["1", "0"]
    assert out.getvalue().count("firing door-activity") == 2


def test_replay_without_send_delivers_nothing(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    # a webhook nobody listens on: without --send it is never called, so replay still exits 0
    rules.write_text(
        "notifiers: {hook: {webhook: {url: 'http://127.0.0.1:9/never'}}}\n"
        "rules: [{name: d, key: door, when: {changed: true}, notify: [hook]}]\n",
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(rules, GREENHOUSE, "text", False, out, err) == 0
    assert out.getvalue().count("firing d door=") == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    value=json_values,
    key=st.text(max_size=8),
    extra=st.dictionaries(st.sampled_from(["icon", "lastUpdate", "x"]), json_values),
)
def test_decode_record_equals_the_standard_json(
    value: object, key: str, extra: dict[str, object]
) -> None:
    """Lines are decoded by orjson with json as the reference: same result for any record,
    huge integers included (orjson would make them floats)."""
    from pxrules.fastjson import decode_record

    line = json.dumps({"event": "setData", "data": {"key": key, "value": value, **extra}})
    assert decode_record(line.encode()) == json.loads(line)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data": {"key": "k", "value": 123456789012345678901234567890}}',
        b'{"data": {"key": "k\\ud800", "value": "1"}}',  # a lone surrogate: json accepts it
        b'{"data": {"key": "k", "value": NaN}}',  # json accepts NaN; the parser refuses it
        b'\xef\xbb\xbf{"data": {"key": "k", "value": "1"}}',  # a byte-order mark on line 1
    ],
)
def test_decode_record_falls_back_to_json_where_orjson_differs(raw: bytes) -> None:
    from pxrules.fastjson import decode_record

    assert decode_record(raw, first=True) == json.loads(raw)


def test_decode_record_errors_are_jsons() -> None:
    from pxrules.fastjson import decode_record

    with pytest.raises(json.JSONDecodeError):
        decode_record(b'{"event": ')
    with pytest.raises(UnicodeDecodeError):
        decode_record(b'{"event": "\xff"}')


@settings(max_examples=300, deadline=None)
@given(value=json_values, extra=st.dictionaries(st.sampled_from(["icon", "key", "x"]), json_values))
@example(value=[2**63 + 1], extra={})  # found by hypothesis: a big integer inside a list
def test_decode_packet_equals_python_socketios_decoder(
    value: object, extra: dict[str, object]
) -> None:
    """The source's socket client decodes event packets with orjson; the result must be what
    python-socketio's own decoder (engineio's json) gives, or the same error."""
    from engineio import json as engineio_json

    from pxrules.fastjson import decode_packet

    text = json.dumps(["setData", {"value": value, **extra}])
    try:
        expected = engineio_json.loads(text)
    except ValueError as exc:  # integers of more than 100 digits
        with pytest.raises(type(exc)):
            decode_packet(text)
        return
    assert decode_packet(text) == expected


def test_the_source_client_decodes_with_orjson_without_changing_socketio() -> None:
    import socketio.packet

    from pxrules.fastjson import PacketJson
    from pxrules.source import PxServSource

    source = PxServSource(api_key="k", url="http://127.0.0.1:9", snapshot=False)
    client = source._new_link().client
    assert client.packet_class.json is PacketJson
    assert socketio.packet.Packet.json is not PacketJson  # other clients and servers keep theirs


FREEZER = (
    "rules:\n  - {name: freezer-warm, key: kitchen/freezer, when: {above: -10}, resolve: true}\n"
)
NIGHT = [("01:50", "-18"), ("02:10", "-5"), ("03:00", "-4"), ("04:20", "-17")]


def _night(tmp_path: Path, silences: str) -> tuple[Path, Path, Path]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(FREEZER, encoding="utf-8")
    events = tmp_path / "ev.jsonl"
    events.write_text(
        "".join(
            json.dumps({"event": "setData", "data": {"key": "kitchen/freezer", "value": v},
                        "at": f"2025-01-01T{t}:00Z"}) + "\n"
            for t, v in NIGHT
        ),
        encoding="utf-8",
    )  # fmt: skip
    path = tmp_path / "silences.yaml"
    path.write_text(silences, encoding="utf-8")
    return rules, events, path


def test_replay_with_silences_shows_what_they_held_back(tmp_path: Path) -> None:
    rules, events, silences = _night(
        tmp_path,
        "- {matchers: {rule: 'freezer*'}, starts_at: '2025-01-01T02:00:00Z', duration: 2h}\n",
    )
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(rules, events, "text", False, out, err, silences_file=silences,
                      show_suppressed=True)  # fmt: skip
    assert code == 0, err.getvalue()
    assert out.getvalue().splitlines() == [
        "2025-01-01T02:10:00.000Z silenced firing freezer-warm kitchen/freezer=-5"
        " (silence silence-0)",
        "2025-01-01T04:00:00.000Z firing freezer-warm kitchen/freezer=-4",
        "2025-01-01T04:20:00.000Z resolved freezer-warm kitchen/freezer=-17",
    ]
    assert "2 alerts, 1 held back" in err.getvalue()

    out = io.StringIO()
    run_replay(rules, events, "json", False, out, io.StringIO(), silences_file=silences)
    assert [json.loads(line)["at"] for line in out.getvalue().splitlines()] == [
        "2025-01-01T04:00:00.000Z", "2025-01-01T04:20:00.000Z"
    ]  # fmt: skip
    out = io.StringIO()
    run_replay(rules, events, "json", False, out, io.StringIO(), silences_file=silences,
               show_suppressed=True)  # fmt: skip
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {"suppressed": {
        "at": "2025-01-01T02:10:00.000Z", "reason": "silenced", "state": "firing",
        "rule": "freezer-warm", "key": "kitchen/freezer", "value": "-5", "by": "silence-0",
    }}  # fmt: skip


def test_a_bad_silences_file_is_exit_2_with_its_line(tmp_path: Path) -> None:
    rules, events, silences = _night(
        tmp_path, "- {matchers: {rule: a}, duration: 1h, starts_at: '2025-01-01T00:00:00Z'}\n"
        "- {matchers: {colour: red}, duration: 1h, starts_at: '2025-01-01T00:00:00Z'}\n",
    )  # fmt: skip
    err = io.StringIO()
    code = run_replay(rules, events, "text", False, io.StringIO(), err, silences_file=silences)
    assert code == 2
    assert err.getvalue().startswith(f"{silences}: 2:3: silence 1: ")
    assert "project, rule, key, severity" in err.getvalue()
