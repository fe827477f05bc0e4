"""`pxrules run` end to end: real process, simulator, HTTP receiver, Apprise, SQLite file."""

from __future__ import annotations

import json
import signal
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pxrules.daemon.store import Store
from pxrules.events import Event
from pxrules.source import PxServSource
from pxrules.testing.simulator import Simulator
from pxrules.webhooks import verify

from .conftest import API_KEY, FAST
from .daemon_proc import DaemonProc
from .helpers import Collector
from .receiver import Receiver, Reply

HOOK_SECRET = "whsec-Hook-Secret-91"
HOOK_TOKEN = "Header-Token-77ab"
APPRISE_TOKEN = "AppriseToken5521"


def rules_text(sim: Simulator, rx: Receiver, *, threshold: int = 70, extra: str = "") -> str:
    return f"""
source: {{url: "{sim.url}", api_key: "${{PXSERV_API_KEY}}"}}
notifiers:
  hook:
    webhook:
      url: {rx.url("/hook")}
      secret: "${{HOOK_SECRET}}"
      headers: {{Authorization: "Bearer {HOOK_TOKEN}"}}
      timeout: 5s
  phone:
    apprise: "json://user:{APPRISE_TOKEN}@127.0.0.1:{rx.port}/apprise"
  fan:
    pxserv:
      set: {{fan: "{{{{ '1' if state == 'firing' else '0' }}}}"}}
rules:
  - name: humid
    key: humidity
    when: {{above: {threshold}}}
    resolve: true
    notify: [hook, phone, fan]
    title: "{{{{ key }}}} high"
{extra}
"""


ENV = {"PXSERV_API_KEY": API_KEY, "HOOK_SECRET": HOOK_SECRET}


@pytest.fixture
async def rx() -> AsyncIterator[Receiver]:
    async with Receiver() as receiver:
        yield receiver


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_end_to_end_delivery_health_metrics_and_no_secrets(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    state = tmp_path / "state.db"
    watcher: Collector[Event] = Collector()
    async with PxServSource(api_key=API_KEY, url=sim.url, snapshot=False, backoff=FAST) as mine:
        mine.events.subscribe(watcher)
        await mine.wait_connected()
        daemon = await DaemonProc(rules, state, env=ENV).start()
        try:
            code, body = await daemon.get("/healthz")
            assert code == 200 and json.loads(body)["connected"] is True
            await sim.set("humidity", "75.5")
            await rx.requests.wait_for(lambda r: {x.path for x in r} >= {"/hook", "/apprise"})
            # the pxserv notifier's write comes back from PxServ as a setData event
            await watcher.wait_for(lambda evs: any(e.key == "fan" and e.value == "1" for e in evs))
            hook = rx.to("/hook")[0]
            doc = hook.json()
            assert {k: doc[k] for k in ("version", "rule", "key", "state", "value", "number")} == {
                "version": "1", "rule": "humid", "key": "humidity", "state": "firing",
                "value": "75.5", "number": 75.5,
            }  # fmt: skip
            assert doc["title"] == "humidity high"
            assert verify(hook.body, hook.headers, HOOK_SECRET)
            assert hook.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
            assert rx.to("/apprise")[0].json()["title"] == "humidity high"
            await daemon.wait_metric("pxrules_notifications_total", 3, outcome="delivered")
            _, metrics = await daemon.get("/metrics")
            for secret in (API_KEY, HOOK_SECRET, HOOK_TOKEN, APPRISE_TOKEN):
                assert secret not in metrics
            names = {f.name for f in text_string_to_metric_families(metrics)}
            assert {"pxrules_events_received", "pxrules_alerts", "pxrules_outbox_depth",
                    "pxrules_connected", "pxrules_rule_evaluations"} <= names  # fmt: skip
            assert await daemon.metric("pxrules_alerts_total", rule="humid", state="firing") == 1
            await sim.set("humidity", "50")
            await watcher.wait_for(lambda evs: any(e.key == "fan" and e.value == "0" for e in evs))
        finally:
            assert await daemon.stop() == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    everything = "\n".join(daemon.raw)
    assert "connected to" in everything
    first = daemon.logs.items[0]  # the startup line, at info, names the version and the loop
    assert first["level"] == "info" and first["message"].startswith("pxrules ")
    assert any(e.get("level") == "debug" for e in daemon.logs.items), "ran at DEBUG"
    for secret in (API_KEY, HOOK_SECRET, HOOK_TOKEN, APPRISE_TOKEN):
        assert secret not in everything
    assert API_KEY not in body
    # "Did my rule fire?" is in the log at INFO: each delivery, by target name, never its URL.
    delivered = sorted(
        e["message"].split(" (attempt")[0]
        for e in daemon.logs.items
        if e.get("level") == "info" and str(e.get("message", "")).startswith("delivered ")
    )
    assert delivered == sorted(
        f"delivered {state} of rule humid, key humidity to {target}"
        for state in ("firing", "resolved")
        for target in ("fan", "hook", "phone")
    )
    assert not any(rx.url("/") in line for line in daemon.raw if '"info"' in line)


async def test_sigterm_while_firing_then_restart_sends_no_duplicate(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    state = tmp_path / "state.db"
    daemon = await DaemonProc(rules, state, env=ENV).start()
    await sim.set("humidity", "75")
    await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) == 1)
    await daemon.wait_metric("pxrules_notifications_total", 3, outcome="delivered")
    assert await daemon.stop() == 0
    daemon = await DaemonProc(rules, state, env=ENV).start()
    # the reconnect snapshot feeds humidity=75 again: the restored state knows it is firing
    await daemon.wait_metric("pxrules_events_received_total", 1, origin="snapshot")
    await sim.set("humidity", "60")
    await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) == 2)
    assert await daemon.stop() == 0
    assert [r.json()["state"] for r in rx.to("/hook")] == ["firing", "resolved"]


async def test_pending_delivery_survives_a_restart(sim: Simulator, tmp_path: Path) -> None:
    rx = Receiver()
    rx.reserve()  # bound, not listening: the receiver is down until `async with rx`
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    state = tmp_path / "state.db"
    daemon = await DaemonProc(rules, state, env=ENV).start()
    await sim.set("humidity", "75")
    await daemon.wait_log(lambda m: m.startswith("delivery of ") and "to hook failed" in m)
    assert await daemon.stop() == 0
    async with rx:
        daemon = await DaemonProc(rules, state, env=ENV).start()
        await daemon.wait_log(lambda m: "undelivered notification" in m)
        await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) >= 1)
        await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
        assert await daemon.stop() == 0
    hooks = rx.to("/hook")
    assert len(hooks) == 1 and hooks[0].json()["state"] == "firing"


async def test_kill_9_right_after_delivery_duplicates_at_most_once(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    state = tmp_path / "state.db"
    daemon = await DaemonProc(rules, state, env=ENV).start()
    await sim.set("humidity", "75")
    await rx.requests.wait_for(lambda r: any(x.path == "/hook" for x in r))
    daemon.kill()
    assert await daemon.wait_exit() == -signal.SIGKILL
    daemon = await DaemonProc(rules, state, env=ENV).start()
    await daemon.wait_metric("pxrules_events_received_total", 1, origin="snapshot")
    await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
    await sim.set("humidity", "60")
    await rx.requests.wait_for(
        lambda r: any(x.json()["state"] == "resolved" for x in r if x.path == "/hook")
    )
    assert await daemon.stop() == 0
    firing = [r.json()["id"] for r in rx.to("/hook") if r.json()["state"] == "firing"]
    assert 1 <= len(firing) <= 2 and len(set(firing)) == 1


async def test_corrupt_state_file_gives_a_clean_start_with_a_warning(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    state = tmp_path / "state.db"
    Store.open(state).close()  # a real state file, then its first page damaged
    with state.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xde\xad" * 1500)
    daemon = await DaemonProc(rules, state, env=ENV).start()
    await sim.set("humidity", "75")
    await rx.requests.wait_for(lambda r: any(x.path == "/hook" for x in r))
    assert await daemon.stop() == 0
    assert any("is unreadable" in m and "moved it to" in m for m in daemon.messages())
    assert list(tmp_path.glob("state.db.corrupt-*"))


async def test_outage_then_snapshot_fires_and_healthz_follows_the_connection(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    sim.set_quietly("humidity", "50")
    daemon = await DaemonProc(rules, tmp_path / "state.db", env=ENV).start()
    try:
        await daemon.wait_metric("pxrules_events_received_total", 1, origin="snapshot")
        await sim.pause()  # the server goes away
        sim.set_quietly("humidity", "80")  # crosses the threshold meanwhile: nothing is pushed
        await daemon.wait_metric_at_most("pxrules_connected", 0)  # poll until seen
        code, body = await daemon.get("/healthz")
        assert code == 503 and json.loads(body)["connected"] is False
        await sim.resume()
        await rx.requests.wait_for(lambda r: any(x.path == "/hook" for x in r))
        assert rx.to("/hook")[0].json()["value"] == "80"
        code, _ = await daemon.get("/healthz")
        assert code == 200
    finally:
        assert await daemon.stop() == 0


async def test_sighup_reload(sim: Simulator, rx: Receiver, tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx, threshold=70))
    daemon = await DaemonProc(rules, tmp_path / "state.db", env=ENV).start()
    try:
        write(rules, "rules: [{name: broken, key: x, when: {abvoe: 1}}]\n")
        daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        await daemon.wait_log(lambda m: m.startswith("reload failed"))
        await sim.set("humidity", "75")  # old rules still work
        await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) == 1)
        write(rules, rules_text(sim, rx, threshold=90))
        daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        await daemon.wait_log(lambda m: m.startswith("reloaded: 1 rules"))
        await sim.set("humidity", "85")  # below the new threshold: resolves, no new firing
        await sim.set("humidity", "95")
        await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) == 3)
    finally:
        assert await daemon.stop() == 0
    assert [(r.json()["state"], r.json()["value"]) for r in rx.to("/hook")] == [
        ("firing", "75"),
        ("resolved", "85"),
        ("firing", "95"),
    ]


async def test_dry_run_delivers_nothing(sim: Simulator, rx: Receiver, tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    daemon = await DaemonProc(rules, tmp_path / "state.db", "--dry-run", env=ENV).start()
    await sim.set("humidity", "75")
    await daemon.wait_log(lambda m: m.startswith("FIRING humid"))
    assert await daemon.stop() == 0
    assert rx.requests.items == []
    assert not (tmp_path / "state.db").exists()


async def test_exit_codes(sim: Simulator, rx: Receiver, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "rules: [{name: a, key: k, when: {abvoe: 1}}]\n")
    daemon = await DaemonProc(bad, tmp_path / "s.db", env=ENV).start(wait_connected=False)
    assert await daemon.wait_exit() == 1
    assert any("unknown field 'abvoe'" in m for m in daemon.messages())

    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
    refused = DaemonProc(rules, tmp_path / "s.db", env={**ENV, "PXSERV_API_KEY": "wrong-key-xyz"})
    await refused.start(wait_connected=False)
    assert await refused.wait_exit() == 3
    assert any("Invalid API key." in m for m in refused.messages())
    assert "wrong-key-xyz" not in "\n".join(refused.raw)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = DaemonProc(rules, tmp_path / "s.db", env=ENV)
        busy.args[busy.args.index("127.0.0.1:0")] = f"127.0.0.1:{port}"
        await busy.start(wait_connected=False)
        assert await busy.wait_exit() == 2
    assert any(m.startswith(f"cannot serve --http 127.0.0.1:{port}") for m in busy.messages())

    unset = DaemonProc(rules, tmp_path / "s.db", env={"PXSERV_API_KEY": API_KEY, "HOOK_SECRET": ""})
    unset.env.pop("HOOK_SECRET")
    await unset.start(wait_connected=False)
    assert await unset.wait_exit() == 1
    assert any("environment variable HOOK_SECRET is not set" in m for m in unset.messages())


async def test_startup_line_names_notifiers_not_secrets(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", rules_text(sim, rx, extra=""))
    daemon = await DaemonProc(rules, tmp_path / "state.db", env=ENV).start()
    assert await daemon.stop() == 0
    line = next(m for m in daemon.messages() if m.startswith("pxrules "))
    assert "(1 rule)" in line and "log, hook, phone, fan" in line and sim.url in line
    assert f"state {tmp_path / 'state.db'}" in line  # where the state lives, absolute
    assert APPRISE_TOKEN not in line and HOOK_SECRET not in line


async def test_failing_target_retries_without_blocking_others(
    sim: Simulator, tmp_path: Path
) -> None:
    async with Receiver({"/hook": [Reply(503)] * 2}) as rx:
        rules = write(tmp_path / "rules.yaml", rules_text(sim, rx))
        daemon = await DaemonProc(rules, tmp_path / "state.db", env=ENV).start()
        await sim.set("humidity", "75")
        await rx.requests.wait_for(lambda r: any(x.path == "/apprise" for x in r))
        await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/hook"]) == 3, 30)
        await daemon.wait_metric("pxrules_retries_total", 2, notifier="hook")
        assert await daemon.stop() == 0
    ids = {r.json()["id"] for r in rx.to("/hook")}
    assert len(ids) == 1
