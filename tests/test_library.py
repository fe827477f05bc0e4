"""The embedding API of docs/reference.md ("Library"), as a user would write it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import reactivex.operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

import pxrules
from pxrules import Alert, Event, PxServSource, RuleSet, Simulator, load_rules

from .conftest import API_KEY, FAST
from .helpers import Collector


def test_public_names() -> None:
    for name in pxrules.__all__:
        assert getattr(pxrules, name) is not None
    assert pxrules.__version__


async def test_contract_example_with_reactivex_composition(sim: Simulator, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "rules:\n  - {name: hot, keys: ['t/*'], when: {above: 30}, resolve: true}\n",
        encoding="utf-8",
    )
    got: Collector[Alert] = Collector()
    keys_seen: Collector[str] = Collector()
    async with PxServSource(api_key=API_KEY, url=sim.url, backoff=FAST) as source:
        events = source.events  # reactivex.Observable[pxrules.Event], hot
        alerts = load_rules(str(rules_file)).apply(
            events, AsyncIOScheduler(asyncio.get_running_loop())
        )
        alerts.pipe(ops.filter(lambda a: a.state == "firing")).subscribe(got)
        events.pipe(ops.map(lambda e: e.key), ops.distinct()).subscribe(keys_seen)
        await source.wait_connected()
        for key, value in [("t/1", "31"), ("t/2", "12"), ("t/1", "20"), ("t/2", "35")]:
            await sim.set(key, value)
        await got.wait_count(2)
        await keys_seen.wait_count(2)
    assert [(a.key, a.value) for a in got.items] == [("t/1", "31"), ("t/2", "35")]
    assert keys_seen.items == ["t/1", "t/2"]
    assert isinstance(RuleSet.from_text("rules: []"), RuleSet)
    assert Event.__name__ == "Event"
