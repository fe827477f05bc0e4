"""Silences through a real daemon: made and expired with the CLI and the API, held
notifications sent at a real receiver when the silence is expired, kept across a restart."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..helpers import until
from ..receiver import Receiver

TOKEN = "console-Token-5c1e"


def rules_file(tmp_path: Path, sim: Simulator, rx: Receiver) -> Path:
    path = tmp_path / "home.yaml"
    path.write_text(
        f"""
source: {{url: "{sim.url}", api_key: "{API_KEY}"}}
notifiers:
  hook: {{webhook: {{url: "{rx.url("/hook")}"}}}}
rules:
  - {{name: freezer-warm, key: kitchen/freezer, when: {{above: -10}}, resolve: true,
     severity: critical, notify: [hook]}}
  - {{name: humid, key: humidity, when: {{above: 70}}, notify: [hook]}}
""",
        encoding="utf-8",
    )
    return path


async def test_a_silence_from_the_cli_holds_the_firing_until_it_is_expired(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await DaemonProc(
        rules_file(tmp_path, sim, rx), tmp_path / "s.db", "--http-token", TOKEN
    ).start()
    code, out, err = await daemon.cli(
        "silence", "add", "rule=freezer*", "key=kitchen/*", "--for", "2h",
        "--comment", "defrost", "--author", "ayse", token=TOKEN,
    )  # fmt: skip
    assert code == 0, err
    ident = out.strip()
    assert len(ident) == 32

    await sim.set("kitchen/freezer", "-2")
    await sim.set("humidity", "75")  # not silenced: goes out
    await until(lambda: rx.to("/hook"))
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 1, reason="silenced")
    assert [r.json()["rule"] for r in rx.to("/hook")] == ["humid"]

    code, out, _ = await daemon.cli("alerts", "--format", "json")
    firing = {a["rule"]: a for a in json.loads(out)["alerts"]}
    assert code == 0 and firing["freezer-warm"]["silenced"] is True
    assert firing["freezer-warm"]["silenced_by"] == ident and firing["humid"]["silenced"] is False
    code, out, _ = await daemon.cli("alerts")
    assert f"silenced ({ident})" in out and "critical" in out

    code, out, _ = await daemon.cli("silence", "ls")
    assert ident in out and "rule=freezer* key=kitchen/*" in out and "ayse" in out

    code, out, err = await daemon.cli("silence", "expire", ident, token=TOKEN)
    assert code == 0, err
    await until(lambda: len(rx.to("/hook")) == 2)
    held = rx.to("/hook")[1].json()
    assert (held["rule"], held["state"], held["value"]) == ("freezer-warm", "firing", "-2")

    code, out, _ = await daemon.cli("silence", "ls", "--all", "--format", "json")
    assert [s["state"] for s in json.loads(out)["silences"]] == ["expired"]
    code, out, _ = await daemon.cli("silence", "ls")
    assert out.strip() == "no silences"
    assert await daemon.stop() == 0
    assert TOKEN not in "\n".join(daemon.raw)


async def test_silences_survive_a_restart(sim: Simulator, rx: Receiver, tmp_path: Path) -> None:
    rules, state = rules_file(tmp_path, sim, rx), tmp_path / "s.db"
    daemon = await DaemonProc(rules, state).start()
    status, made = await daemon.request(
        "POST", "/api/v1/silences", {"matchers": {"severity": "critical"}, "duration": "1h"}
    )
    assert status == 200 and made["state"] == "active" and made["created_by"] == "api"
    assert await daemon.stop() == 0

    daemon = await DaemonProc(rules, state).start()
    status, listed = await daemon.request("GET", "/api/v1/silences")
    assert [(s["id"], s["state"]) for s in listed["silences"]] == [(made["id"], "active")]
    await sim.set("kitchen/freezer", "-2")
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 1, reason="silenced")
    status, found = await daemon.request("GET", "/api/v1/alerts")
    assert [(a["rule"], a["silenced"]) for a in found["alerts"]] == [("freezer-warm", True)]
    assert rx.to("/hook") == []  # suppressed in the engine: no outbox row was ever made
    status, deliveries = await daemon.request("GET", "/api/v1/deliveries")
    assert deliveries == {"deliveries": [], "pending": {}}
    assert await daemon.stop() == 0


async def test_writes_need_the_token_and_are_refused_from_another_origin(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await DaemonProc(
        rules_file(tmp_path, sim, rx), tmp_path / "s.db", "--http-token", TOKEN
    ).start()
    body = {"matchers": {"rule": "humid"}, "duration": "10m"}
    status, answer = await daemon.request("POST", "/api/v1/silences", body)
    assert status == 401 and "Bearer" in answer["error"]
    wrong = {"Authorization": "Bearer nope"}
    assert (await daemon.request("POST", "/api/v1/silences", body, wrong))[0] == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    evil = {**good, "Origin": "http://evil.example"}
    status, answer = await daemon.request("POST", "/api/v1/silences", body, evil)
    assert status == 403 and "another origin" in answer["error"]
    assert (await daemon.request("POST", "/-/reload", None, wrong))[0] == 401
    status, answer = await daemon.request("DELETE", "/api/v1/silences/nope", None, good)
    assert status == 404 and answer == {"error": "no silence 'nope'"}

    bad = {"matchers": {"colour": "red"}, "duration": "10m"}
    status, answer = await daemon.request("POST", "/api/v1/silences", bad, good)
    assert status == 400 and "project, rule, key, severity" in answer["error"]
    status, answer = await daemon.request("GET", "/api/v1/keys?limit=0")
    assert status == 400 and "limit" in answer["error"]
    status, answer = await daemon.request("GET", "/api/v1/nothing")
    assert status == 404 and "error" in answer
    assert (await daemon.request("GET", "/api/v1/silences"))[1] == {"silences": []}  # reads open

    code, _, err = await daemon.cli("silence", "add", "rule=humid", "--for", "10m")
    assert code == 2 and "--http-token" in err
    code, _, err = await daemon.cli("silence", "add", "colour=red", "--for", "10m", token=TOKEN)
    assert code == 1 and "project, rule, key, severity" in err
    code, _, err = await daemon.cli("silence", "add", "rule=humid", "--for", "soon", token=TOKEN)
    assert code == 1 and "invalid duration" in err
    assert await daemon.stop() == 0


async def test_a_non_loopback_address_without_a_token_serves_reads_only(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = DaemonProc(rules_file(tmp_path, sim, rx), tmp_path / "s.db")
    daemon.args[daemon.args.index("127.0.0.1:0")] = "0.0.0.0:0"
    await daemon.start()
    daemon.health_url = daemon.health_url.replace("0.0.0.0", "127.0.0.1")
    assert any("the API is read-only" in m for m in daemon.messages())
    status, answer = await daemon.request("POST", "/-/reload")
    assert status == 403 and "--http-token" in answer["error"]
    assert (await daemon.request("GET", "/api/v1/rules"))[0] == 200
    assert await daemon.stop() == 0


async def test_unreachable_daemon_is_exit_2(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pxrules", "alerts", "--http", "127.0.0.1:9",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 2 and b"cannot reach the daemon at http://127.0.0.1:9" in err
