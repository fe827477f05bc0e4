"""The real CLI as a subprocess against the simulator: tail, refused key, simulate."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from pxrules.events import parse_record
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY

PXRULES = [sys.executable, "-m", "pxrules"]


async def spawn(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PXSERV_API_KEY", None)
    return await asyncio.create_subprocess_exec(
        *PXRULES,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def read_line(stream: asyncio.StreamReader, timeout: float = 20.0) -> str:
    return (await asyncio.wait_for(stream.readline(), timeout)).decode()


async def test_tail_prints_and_records_events(sim: Simulator, tmp_path: Path) -> None:
    sim.set_quietly("humidity", "64.11")
    record = tmp_path / "events.jsonl"
    proc = await spawn("tail", "--url", sim.url, "--api-key", API_KEY, "--record", str(record))
    assert proc.stdout is not None
    first = json.loads(await read_line(proc.stdout))
    assert (first["event"], first["data"]["key"], first["data"]["value"], first["origin"]) == (
        "setData", "humidity", "64.11", "snapshot"
    )  # fmt: skip
    await sim.set("sıcaklık", "23.5")
    await sim.remove("humidity")
    second = json.loads(await read_line(proc.stdout))
    third = json.loads(await read_line(proc.stdout))
    assert (second["data"]["key"], second["data"]["value"], second["origin"]) == (
        "sıcaklık", "23.5", "live"
    )  # fmt: skip
    assert (third["event"], third["data"]) == ("removeData", {"key": "humidity"})
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    lines = record.read_text(encoding="utf-8").splitlines()
    events = [parse_record(json.loads(line)) for line in lines]
    assert [(e.kind, e.key, e.value) for e in events] == [
        ("set", "humidity", "64.11"),
        ("set", "sıcaklık", "23.5"),
        ("remove", "humidity", None),
    ]


async def test_tail_with_refused_key_exits_3_with_server_reason(sim: Simulator) -> None:
    proc = await spawn("tail", "--url", sim.url, "--api-key", "wrong-key-abc")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 3
    assert "Invalid API key." in err.decode()
    assert "wrong-key-abc" not in err.decode()
    assert sim.refusals == 1


async def test_simulate_serves_until_sigterm() -> None:
    proc = await spawn("simulate", "--port", "0", "--api-key", "k")
    assert proc.stdout is not None
    banner = await read_line(proc.stdout)
    assert "PxServ simulator on http://127.0.0.1:" in banner
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_help_lists_commands_and_module_entry_point() -> None:
    proc = await spawn("--help")
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    for command in ("demo", "simulate", "tail"):
        assert command in out.decode()


async def test_tail_takes_url_and_key_from_a_rules_file(sim: Simulator, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"source: {{url: '{sim.url}', api_key: '{API_KEY}'}}\nrules: []\n", encoding="utf-8"
    )
    proc = await spawn("tail", str(rules))
    assert proc.stdout is not None
    await sim.set("k", "v")
    line = json.loads(await read_line(proc.stdout))
    assert (line["data"]["key"], line["data"]["value"]) == ("k", "v")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_demo_shows_the_promised_alerts_within_30_seconds() -> None:
    """What `make demo` shows a newcomer: readings, a threshold alert firing and resolving,
    a dead sensor and a door event (real time: the demo is meant to be watched)."""
    proc = await spawn("demo", "--duration", "24")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "humidity" in text and "temperature" in text
    for expected in (
        "ALERT FIRING humidity-high",
        "ALERT RESOLVED humidity-high",
        "ALERT FIRING soil-sensor-silent",
        "ALERT CHANGED door [info] door=1: door opened",
    ):
        assert expected in text, text


async def test_what_tail_prints_replays_as_it_is(sim: Simulator, tmp_path: Path) -> None:
    """`pxrules tail > ev.jsonl; pxrules replay rules.yaml ev.jsonl` works line for line."""
    proc = await spawn("tail", "--url", sim.url, "--api-key", API_KEY)
    assert proc.stdout is not None
    printed: list[str] = []
    for value in ("71", "75", "60"):
        await sim.set("humidity", value)
        printed.append(await read_line(proc.stdout))
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(printed), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules: [{name: humid, key: humidity, when: {above: 70}, resolve: true}]\n",
        encoding="utf-8",
    )
    replay = await spawn("replay", str(rules), str(events))
    out, err = await asyncio.wait_for(replay.communicate(), 30)
    assert replay.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert [line.split()[1:] for line in lines] == [
        ["firing", "humid", "humidity=71"],
        ["resolved", "humid", "humidity=60"],
    ]


async def test_a_line_that_is_not_a_record_says_what_a_record_looks_like(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: hot, key: t, when: {above: 1}}]\n", encoding="utf-8")
    events = tmp_path / "ev.jsonl"
    events.write_text('{"kind": "set", "key": "t", "value": "2"}\n', encoding="utf-8")
    replay = await spawn("replay", str(rules), str(events))
    _, err = await asyncio.wait_for(replay.communicate(), 30)
    assert replay.returncode == 1
    message = err.decode()
    assert f"{events}:1: error: 'event' must be 'setData' or 'removeData', not None" in message
    assert '{"event": "setData", "data": {"key": …, "value": …}' in message
