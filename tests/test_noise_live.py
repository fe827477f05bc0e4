"""Noise control through a real daemon, the simulator and a real receiver: a group is one
webhook, an inhibited alert waits for its source to resolve, a flapping alert says so once,
and muted rules and notifiers send nothing while their window lasts."""

from __future__ import annotations

from pathlib import Path

from pxrules.testing.simulator import Simulator

from .conftest import API_KEY
from .daemon_proc import DaemonProc
from .helpers import until
from .receiver import Receiver


def start(tmp_path: Path, sim: Simulator, body: str) -> DaemonProc:
    rules = tmp_path / "noise.yaml"
    rules.write_text(f'source: {{url: "{sim.url}", api_key: "{API_KEY}"}}\n{body}', "utf-8")
    return DaemonProc(rules, tmp_path / "s.db")


async def test_three_alerts_of_one_rule_are_one_group_webhook(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await start(
        tmp_path,
        sim,
        f"""
notifiers:
  hook:
    webhook: {{url: "{rx.url("/hook")}", secret: "whsec_{"a" * 32}"}}
    group: {{by: [rule], wait: 1s, interval: 1s}}
rules:
  - {{name: hot, keys: ["room/*"], when: {{above: 30}}, resolve: true, notify: [hook]}}
""",
    ).start()
    for room in ("a", "b", "c"):
        await sim.set(f"room/{room}", "31")
    await until(lambda: rx.to("/hook"))
    (first,) = rx.to("/hook")
    body = first.json()
    assert set(body) == {"version", "id", "group_key", "status", "alerts"}
    assert body["group_key"] == 'hook{rule="hot"}' and body["status"] == "firing"
    assert sorted(a["key"] for a in body["alerts"]) == ["room/a", "room/b", "room/c"]
    assert first.headers["webhook-id"] == body["id"]
    await sim.set("room/a", "20")
    await until(lambda: len(rx.to("/hook")) == 2)
    second = rx.to("/hook")[1].json()
    assert second["id"] != body["id"] and second["status"] == "firing"
    assert [(a["key"], a["state"]) for a in second["alerts"]][-1] == ("room/a", "resolved")
    assert await daemon.stop() == 0
    assert any('delivered firing group hook{rule="hot"} (3 alerts)' in m for m in daemon.messages())


async def test_an_inhibited_alert_is_sent_when_its_source_resolves(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await start(
        tmp_path,
        sim,
        f"""
notifiers:
  hook: {{webhook: {{url: "{rx.url("/hook")}"}}}}
inhibit:
  - {{source: {{rule: gateway-offline, key: "gateway/{{gw}}/status"}},
     target: {{rule: "*-high", key: "gateway/{{gw}}/*"}}, equal: [gw]}}
rules:
  - {{name: gateway-offline, keys: ["gateway/*/status"], when: {{equals: offline}},
     resolve: true, notify: [hook]}}
  - {{name: temp-high, keys: ["gateway/*/temp"], when: {{above: 30}}, notify: [hook]}}
""",
    ).start()
    await sim.set("gateway/g1/status", "offline")
    await until(lambda: rx.to("/hook"))
    await sim.set("gateway/g1/temp", "99")  # a gateway in trouble reports nonsense
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 1, reason="inhibited")
    _, alerts = await daemon.request("GET", "/api/v1/alerts")
    temp = next(a for a in alerts["alerts"] if a["rule"] == "temp-high")
    assert temp["inhibited"] is True and temp["inhibited_by"] == "gateway-offline gateway/g1/status"
    assert [r.json()["rule"] for r in rx.to("/hook")] == ["gateway-offline"]
    await sim.set("gateway/g1/status", "online")
    await until(lambda: len(rx.to("/hook")) == 3)
    assert [(r.json()["rule"], r.json()["state"]) for r in rx.to("/hook")] == [
        ("gateway-offline", "firing"), ("gateway-offline", "resolved"), ("temp-high", "firing"),
    ]  # fmt: skip
    assert await daemon.stop() == 0


async def test_a_flapping_alert_says_so_once(sim: Simulator, rx: Receiver, tmp_path: Path) -> None:
    daemon = await start(
        tmp_path,
        sim,
        f"""
notifiers:
  hook: {{webhook: {{url: "{rx.url("/hook")}"}}}}
rules:
  - {{name: hum, key: h, when: {{above: 70}}, resolve: true, notify: [hook],
     flapping: {{window: 1h, max_changes: 2}}}}
""",
    ).start()
    for value in ("71", "60", "71", "60", "71", "60"):
        await sim.set("h", value)
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 3, reason="flapping")
    await until(lambda: len(rx.to("/hook")) == 3)
    assert [r.json()["state"] for r in rx.to("/hook")] == ["firing", "resolved", "flapping"]
    flapping = rx.to("/hook")[2].json()
    assert flapping["message"].startswith("h is flapping: 3 state changes within 1h")
    assert await daemon.stop() == 0


async def test_muted_rules_and_notifiers_send_nothing_while_the_window_lasts(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await start(
        tmp_path,
        sim,
        f"""
time_windows:
  always: [{{times: ["00:00-24:00"]}}]
notifiers:
  hook: {{webhook: {{url: "{rx.url("/hook")}"}}}}
  quiet: {{webhook: {{url: "{rx.url("/quiet")}"}}, mute_during: [always]}}
rules:
  - {{name: loud, key: a, when: {{above: 1}}, notify: [hook, quiet]}}
  - {{name: hushed, key: b, when: {{above: 1}}, notify: [hook], mute_during: [always]}}
""",
    ).start()
    await sim.set("a", "5")
    await sim.set("b", "5")
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 1, reason="muted")
    await until(lambda: rx.to("/hook"))
    _, alerts = await daemon.request("GET", "/api/v1/alerts")
    by_rule = {a["rule"]: a for a in alerts["alerts"]}
    assert by_rule["hushed"]["muted"] is True and by_rule["hushed"]["muted_by"] == "always"
    assert by_rule["loud"]["muted"] is False
    assert [r.json()["rule"] for r in rx.to("/hook")] == ["loud"]
    assert await daemon.stop() == 0
    # The quiet notifier's notification waits in the state file for the window to end.
    assert rx.to("/quiet") == []
    from pxrules.daemon.store import Store

    store = Store.open(str(tmp_path / "s.db"))
    try:
        (group,) = store.load_groups(project="noise")  # the rules file's name
        assert group[0] == "quiet" and next(iter(group[2]["pending"].values()))["rule"] == "loud"
    finally:
        store.close()
