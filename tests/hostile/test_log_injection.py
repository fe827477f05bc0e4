"""Devices choose keys and values; in the log they are data: no forged lines, no terminal
control, no secret escaping redaction through JSON escaping, no library's raw lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pxrules.daemon.redaction import RedactingFormatter
from pxrules.source.link import new_link
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    entry = logging.makeLogRecord(
        {"name": "pxrules.alerts", "levelno": 30, "levelname": "WARNING", "msg": msg, "args": args}
    )
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            entry.exc_info = sys.exc_info()
    return entry


def test_a_key_with_a_newline_and_escapes_stays_on_one_text_line() -> None:
    forged = "k\n2026-01-01 00:00:00,000 INFO pxrules.daemon: stopped\x1b[2J\r"
    text = RedactingFormatter(False).format(record("FIRING r [info] %s=1: x", forged))
    assert "\n" not in text and "\x1b" not in text and "\r" not in text
    assert text.endswith(
        "FIRING r [info] k\\n2026-01-01 00:00:00,000 INFO pxrules.daemon: stopped\\x1b[2J\\r=1: x"
    )


def test_a_traceback_keeps_its_lines() -> None:
    text = RedactingFormatter(False).format(record("failed on %s", "a\nb", exc=True))
    first, *rest = text.splitlines()
    assert first.endswith("failed on a\\nb") and rest[0] == "Traceback (most recent call last):"


def test_a_secret_with_quotes_is_redacted_in_json_lines_too() -> None:
    secret = 'pa"ss\\word-123'
    formatter = RedactingFormatter(True, {secret})
    line = formatter.format(record("connecting with %s", secret))
    assert "pa" not in json.loads(line)["message"].replace("***", "")
    assert json.loads(line)["message"] == "connecting with ***"


def test_the_socket_libraries_log_through_ours_without_raw_handlers() -> None:
    link = new_link(lambda kind, data: None)
    assert link.client.logger.name == "pxrules.socketio"
    assert link.client.eio.logger.name == "pxrules.engineio"
    for name in ("socketio.client", "engineio.client", "pxrules.socketio", "pxrules.engineio"):
        assert logging.getLogger(name).handlers == [], name


async def test_a_hostile_key_cannot_forge_a_line_of_the_running_daemon(
    sim: Simulator, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        "rules: [{name: seen, keys: ['*'], when: {above: 0}}]\n",
        encoding="utf-8",
    )
    daemon = DaemonProc(rules, tmp_path / "s.db")
    daemon.args[daemon.args.index("json")] = "text"
    await daemon.start(wait_connected=False)
    await daemon.wait_log(lambda m: " connected to " in m)
    await sim.set("evil\nFIRING fake [critical] x=1: forged\x1b[2J", "5")
    line = await daemon.wait_log(lambda m: "FIRING seen" in m)
    assert await daemon.stop() == 0
    assert "evil\\nFIRING fake [critical] x=1: forged\\x1b[2J=5" in line
    assert not any(raw.startswith("FIRING fake") or "\x1b" in raw for raw in daemon.raw)
