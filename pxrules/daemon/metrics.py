"""Prometheus metrics, each part exporting its own counters at scrape time (no double
bookkeeping): the source's, the engine's, delivery's and the service's own.

>>> from pxrules.engine.tracks import EngineStats
>>> registry = registry_for(lambda: [EngineStats(evaluations=3)])
>>> registry.get_sample_value("pxrules_rule_evaluations_total")
3
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry


class Exporter(Protocol):
    """A part of the daemon that exports its own metrics (its stats object)."""

    def metrics(self) -> Iterator[Metric]: ...


class PartsCollector(Collector):
    """Collects from the parts ``parts()`` names now (a reload replaces the engine)."""

    def __init__(self, parts: Callable[[], Iterable[Exporter]]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self._parts():
            yield from part.metrics()
        yield GaugeMetricFamily(
            "pxrules_asyncio_tasks",
            "asyncio tasks alive (leak detection)",
            len(asyncio.all_tasks()) if _loop_running() else 0,
        )


class ProjectMetrics:
    """Several projects' exporters as one: each sample labelled with its ``project``, and each
    family exported once (a scrape must not name one family twice)."""

    def __init__(self, projects: Callable[[], Iterable[tuple[str, Iterable[Exporter]]]]) -> None:
        self._projects = projects

    def metrics(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for project, exporters in self._projects():
            for exporter in exporters:
                for family in exporter.metrics():
                    merged = families.get(family.name)
                    if merged is None:
                        merged = families[family.name] = Metric(
                            family.name, family.documentation, family.type, family.unit
                        )
                    for sample in family.samples:
                        labels = {"project": project, **sample.labels}
                        merged.samples.append(sample._replace(labels=labels))
        yield from families.values()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def registry_for(parts: Callable[[], Iterable[Exporter]]) -> CollectorRegistry:
    """Our metrics plus the standard process_* ones (RSS, open fds, CPU) for soak tests."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PartsCollector(parts))
    ProcessCollector(registry=registry)
    return registry
