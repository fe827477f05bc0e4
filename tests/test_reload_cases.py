"""Reload (SIGHUP), case by case, on a real daemon: a kept rule keeps its state, a renamed rule
starts fresh, a kept notifier takes over its pending deliveries with its new settings, a removed
notifier's queued notifications are dropped and counted (docs/operations.md, "Reload")."""

from __future__ import annotations

import signal
from pathlib import Path

from pxrules.testing.simulator import Simulator

from .conftest import API_KEY
from .daemon_proc import DaemonProc
from .receiver import Receiver, Reply

ENV = {"PXSERV_API_KEY": API_KEY}


def rules_text(sim: Simulator, hooks: dict[str, str], rules: str) -> str:
    notifiers = ", ".join(
        f"{name}: {{webhook: {{url: '{url}'}}, retry_for: 1h}}" for name, url in hooks.items()
    )
    return (
        f"source: {{url: '{sim.url}', api_key: '${{PXSERV_API_KEY}}'}}\n"
        f"notifiers: {{{notifiers}}}\n"
        f"rules: {rules}\n"
    )


def rule(name: str, notify: str = "hook", threshold: int = 70) -> str:
    return (f"{{name: {name}, key: humidity, when: {{above: {threshold}}}, resolve: true,"
            f" notify: [{notify}]}}")  # fmt: skip


async def reload(daemon: DaemonProc, rules: Path, text: str) -> None:
    before = len([m for m in daemon.messages() if m.startswith("reloaded:")])
    rules.write_text(text, encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    await daemon.wait_log(
        lambda _: len([m for m in daemon.messages() if m.startswith("reloaded:")]) > before
    )


async def test_a_kept_rule_keeps_firing_and_a_renamed_one_starts_fresh(
    sim: Simulator, tmp_path: Path
) -> None:
    async with Receiver() as rx:
        hooks = {"hook": rx.url("/hook")}
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_text(sim, hooks, f"[{rule('hot')}]"), encoding="utf-8")
        daemon = await DaemonProc(rules, tmp_path / "s.db", env=ENV).start()
        try:
            await sim.set("humidity", "75")
            await rx.requests.wait_for(lambda r: len(r) == 1)
            # same name, new threshold: still firing, so 80 is no new firing
            await reload(daemon, rules, rules_text(sim, hooks, f"[{rule('hot', threshold=72)}]"))
            await sim.set("humidity", "80")
            # (the daemon has the 80 before the next reload: else the new rule would see it)
            await daemon.wait_metric("pxrules_events_received_total", 2)
            # renamed: "hot" is gone (its state dropped, no resolve); "warm" starts fresh
            await reload(daemon, rules, rules_text(sim, hooks, f"[{rule('warm', threshold=72)}]"))
            await sim.set("humidity", "81")
            await rx.requests.wait_for(lambda r: len(r) == 2)
            await sim.set("humidity", "50")
            await rx.requests.wait_for(lambda r: len(r) == 3)
        finally:
            assert await daemon.stop() == 0
    assert [(r.json()["rule"], r.json()["state"], r.json()["value"]) for r in rx.to("/hook")] == [
        ("hot", "firing", "75"),
        ("warm", "firing", "81"),
        ("warm", "resolved", "50"),
    ]


async def test_a_kept_notifier_takes_its_pending_delivery_to_its_new_address(
    sim: Simulator, tmp_path: Path
) -> None:
    async with Receiver({"/old": [Reply(503)] * 100}) as old, Receiver() as new:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_text(sim, {"hook": old.url("/old")}, f"[{rule('hot')}]"),
                         encoding="utf-8")  # fmt: skip
        daemon = await DaemonProc(rules, tmp_path / "s.db", env=ENV).start()
        try:
            await sim.set("humidity", "75")
            await old.requests.wait_for(lambda r: len(r) >= 1)  # failed once: now pending
            await reload(daemon, rules, rules_text(sim, {"hook": new.url("/new")},
                                                   f"[{rule('hot')}]"))  # fmt: skip
            await new.requests.wait_for(lambda r: len(r) == 1, 30)
            await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
        finally:
            assert await daemon.stop() == 0
    firing = [r.json() for r in old.to("/old")]
    moved = new.to("/new")[0].json()
    assert (moved["state"], moved["value"]) == ("firing", "75")
    assert {f["id"] for f in firing} == {moved["id"]}  # the same notification, not a new one


async def test_a_removed_notifier_drops_its_queue_and_counts_it(
    sim: Simulator, tmp_path: Path
) -> None:
    async with Receiver({"/gone": [Reply(503)] * 100}) as gone, Receiver() as kept:
        hooks = {"gone": gone.url("/gone"), "kept": kept.url("/kept")}
        two = f"[{rule('hot', notify='gone')}, {rule('cold', notify='kept', threshold=90)}]"
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_text(sim, hooks, two), encoding="utf-8")
        daemon = await DaemonProc(rules, tmp_path / "s.db", env=ENV).start()
        try:
            await sim.set("humidity", "75")
            await gone.requests.wait_for(lambda r: len(r) >= 1)
            one = f"[{rule('cold', notify='kept', threshold=90)}]"
            await reload(daemon, rules, rules_text(sim, {"kept": kept.url("/kept")}, one))
            await daemon.wait_metric("pxrules_dropped_notifications_total", 1)
            await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
            await sim.set("humidity", "95")  # the kept notifier still delivers
            await kept.requests.wait_for(lambda r: len(r) == 1)
        finally:
            assert await daemon.stop() == 0
    assert [r.json()["rule"] for r in kept.to("/kept")] == ["cold"]
