"""Prometheus metrics, read from the daemon's counters at scrape time (no double bookkeeping)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from .service import Daemon


class DaemonCollector(Collector):
    def __init__(self, daemon: Callable[[], Daemon]) -> None:
        self._daemon = daemon

    def collect(self) -> Iterator[Metric]:
        d = self._daemon()
        src = d.source.stats if d.source is not None else None
        engine = d.engine.stats if d.engine is not None else None
        dispatch = d.dispatcher.stats if d.dispatcher is not None else None

        events = CounterMetricFamily(
            "pxrules_events_received",
            "Events received, by origin and kind",
            labels=["origin", "kind"],
        )
        invalid = CounterMetricFamily(
            "pxrules_invalid_events", "Malformed events skipped, by reason", labels=["reason"]
        )
        if src is not None:
            for (origin, kind), count in src.events.items():
                events.add_metric([origin, kind], count)
            for reason, count in src.malformed.items():
                invalid.add_metric([reason], count)
        yield events
        yield invalid

        evaluations = CounterMetricFamily("pxrules_rule_evaluations", "Rule evaluations")
        unknown = CounterMetricFamily(
            "pxrules_unknown_evaluations", "Evaluations skipped as unknown (non-numeric, removed)"
        )
        errors = CounterMetricFamily("pxrules_rule_errors", "Rule or template failures")
        alerts = CounterMetricFamily(
            "pxrules_alerts",
            "Alert notifications emitted, by rule and state",
            labels=["rule", "state"],
        )
        if engine is not None:
            evaluations.add_metric([], engine.evaluations)
            unknown.add_metric([], engine.unknown)
            errors.add_metric([], engine.errors)
            for (rule, state), count in engine.alerts.items():
                alerts.add_metric([rule, state], count)
        yield evaluations
        yield unknown
        yield errors
        yield alerts

        notifications = CounterMetricFamily(
            "pxrules_notifications",
            "Delivery attempts, by notifier and outcome",
            labels=["notifier", "outcome"],
        )
        retries = CounterMetricFamily("pxrules_retries", "Delivery retries", labels=["notifier"])
        if dispatch is not None:
            for (notifier, outcome), count in dispatch.notifications.items():
                notifications.add_metric([notifier, outcome], count)
            for notifier, count in dispatch.retries.items():
                retries.add_metric([notifier], count)
        yield notifications
        yield retries

        yield GaugeMetricFamily(
            "pxrules_outbox_depth", "Notifications not yet delivered", value=d.outbox_depth()
        )
        yield GaugeMetricFamily(
            "pxrules_connected", "1 while connected to PxServ", value=1 if d.connected else 0
        )
        yield CounterMetricFamily(
            "pxrules_reconnects", "Reconnections to PxServ", value=src.reconnects if src else 0
        )
        last = src.last_event_monotonic if src is not None else None
        since = time.monotonic() - last if last is not None else float("nan")
        yield GaugeMetricFamily(
            "pxrules_seconds_since_last_event", "Seconds since the last event", value=since
        )
        yield GaugeMetricFamily(
            "pxrules_asyncio_tasks", "asyncio tasks alive (leak detection)",
            value=len(asyncio.all_tasks()),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "pxrules_state_file_ok", "1 while the state file can be written",
            value=1 if d.health()[1]["state_file"] == "ok" else 0,
        )  # fmt: skip


def registry_for(daemon: Callable[[], Daemon]) -> CollectorRegistry:
    """Our metrics plus the standard process_* ones (RSS, open fds, CPU) for soak tests."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon))
    ProcessCollector(registry=registry)
    return registry
