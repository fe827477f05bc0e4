"""Metrics: every part exports every counter it keeps; a failed reload shows in /metrics and
/healthz of a real daemon."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from pxrules.daemon.delivery import Dispatcher
from pxrules.daemon.health import ServiceStatus
from pxrules.daemon.metrics import Exporter, registry_for
from pxrules.daemon.service import Daemon, RunOptions
from pxrules.engine.tracks import EngineStats
from pxrules.source import SourceStats
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def exported(*parts: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(registry_for(lambda: parts))


def test_the_engine_exports_every_counter_it_keeps() -> None:
    stats = EngineStats(events=11, evaluations=12, unknown=13, suppressed=14, errors=15, evicted=17)
    stats.alerts[("hot", "firing")] = 16
    stats.held["silenced"] = 18
    got = exported(stats)
    assert got[("pxrules_engine_events_total", ())] == 11
    assert got[("pxrules_rule_evaluations_total", ())] == 12
    assert got[("pxrules_unknown_evaluations_total", ())] == 13
    assert got[("pxrules_suppressed_notifications_total", (("reason", "cooldown"),))] == 14
    assert got[("pxrules_suppressed_notifications_total", (("reason", "silenced"),))] == 18
    assert got[("pxrules_rule_errors_total", ())] == 15
    assert got[("pxrules_alerts_total", (("rule", "hot"), ("state", "firing")))] == 16
    assert got[("pxrules_evicted_keys_total", ())] == 17
    counted = {f.name for f in dataclasses.fields(EngineStats)}
    assert counted == {
        "events", "evaluations", "unknown", "suppressed", "held", "errors", "evicted", "alerts"
    }  # fmt: skip


def test_the_source_exports_every_counter_it_keeps() -> None:
    stats = SourceStats(
        events=Counter({("live", "set"): 21}),
        malformed=Counter({"bad_key": 22}),
        subscriber_errors=23,
        snapshots=24,
        snapshot_failures=25,
        reconnects=26,
        freezes=27,
        connected=True,
    )
    got = exported(stats)
    assert got[("pxrules_events_received_total", (("kind", "set"), ("origin", "live")))] == 21
    assert got[("pxrules_invalid_events_total", (("reason", "bad_key"),))] == 22
    assert got[("pxrules_subscriber_errors_total", ())] == 23
    assert got[("pxrules_snapshots_total", ())] == 24
    assert got[("pxrules_snapshot_failures_total", ())] == 25
    assert got[("pxrules_reconnects_total", ())] == 26
    assert got[("pxrules_connected", ())] == 1
    assert got[("pxrules_freezes_total", ())] == 27
    counted = {f.name for f in dataclasses.fields(SourceStats)}
    assert counted == {
        "events", "malformed", "subscriber_errors", "snapshots", "snapshot_failures",
        "reconnects", "freezes", "connected", "last_event_monotonic",
    }  # fmt: skip


def test_delivery_exports_its_counters_and_the_outbox_depth() -> None:
    dispatcher = Dispatcher({}, None)
    dispatcher.stats.notifications[("hook", "retry")] = 31
    dispatcher.stats.retries["hook"] = 32
    dispatcher.stats.dropped = 33
    got = exported(dispatcher)
    assert got[("pxrules_notifications_total", (("notifier", "hook"), ("outcome", "retry")))] == 31
    assert got[("pxrules_retries_total", (("notifier", "hook"),))] == 32
    assert got[("pxrules_dropped_notifications_total", ())] == 33
    assert got[("pxrules_outbox_depth", ())] == 0


def test_a_failed_reload_is_a_metric_and_keeps_the_last_good_timestamp() -> None:
    status = ServiceStatus()
    status.reloaded(True)
    good = status.reload_at
    status.reloaded(False)
    got = exported(status)
    assert got[("pxrules_config_last_reload_successful", ())] == 0
    assert got[("pxrules_config_last_reload_success_timestamp_seconds", ())] == good
    status.reloaded(True)
    assert exported(status)[("pxrules_config_last_reload_successful", ())] == 1


async def test_a_failed_sighup_reload_shows_in_healthz_and_metrics(tmp_path: Path) -> None:
    async with Simulator(api_key=API_KEY) as sim:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
            "rules: [{name: hot, key: t, when: {above: 30}}]\n",
            encoding="utf-8",
        )
        options = RunOptions(
            rules_path=rules, state_path=str(tmp_path / "s.db"), http="127.0.0.1:0"
        )
        daemon = Daemon(options)
        task = asyncio.ensure_future(daemon.run())
        while not daemon.connected:
            await asyncio.sleep(0.01)
        try:
            base = f"http://127.0.0.1:{daemon.http_port}"

            async def scrape() -> tuple[dict[str, object], dict[str, float]]:
                async with aiohttp.ClientSession() as http:
                    async with http.get(base + "/healthz") as response:
                        health = json.loads(await response.text())
                    async with http.get(base + "/metrics") as response:
                        text = await response.text()
                values = {
                    s.name: s.value
                    for family in text_string_to_metric_families(text)
                    for s in family.samples
                }
                return health, values

            health, values = await scrape()
            assert health["last_reload_successful"] is True
            assert values["pxrules_config_last_reload_successful"] == 1
            rules.write_text("rules: [{name: broken, key: t, when: {abvoe: 1}}]\n", "utf-8")
            assert await daemon.reload() is False
            health, values = await scrape()
            assert health["last_reload_successful"] is False
            assert values["pxrules_config_last_reload_successful"] == 0
            assert health["rules"] == 1  # the old rules stay in force
        finally:
            daemon.stop()
            assert await task == 0
