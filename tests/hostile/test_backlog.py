"""Finding 3: the delivery backlog streams from the state file. However many notifications
wait for a target, its worker holds at most BACKLOG_WINDOW of them in memory; the rest are read
from the outbox as it gets to them, in order, each sent once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pxrules.daemon.delivery import BACKLOG_WINDOW, Dispatcher
from pxrules.daemon.notifiers.webhook import WebhookTarget
from pxrules.daemon.store import OutboxItem, Store
from pxrules.rules.schema import WebhookSpec

from ..receiver import Receiver


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _doc(n: int) -> dict[str, Any]:
    return {"id": f"id-{n:05d}", "state": "firing", "message": "m" * 500}


def _record(store: Store, ns: range, target: str = "hook") -> None:
    for n in ns:  # one transaction per alert, as the daemon writes them
        store.record_alerts([(f"id-{n:05d}", target, target, _doc(n))], [], 1000.0 + n)


def _item(n: int) -> OutboxItem:
    return OutboxItem(f"id-{n:05d}", "hook", "hook", _doc(n), 1000.0 + n, 0, 1000.0 + n)


def _statuses(store: Store) -> dict[str, int]:
    rows = store._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return dict(rows.fetchall())


async def test_a_long_backlog_is_held_a_window_at_a_time_and_sent_in_order(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    store = Store.open(tmp_path / "s.db")
    async with Receiver() as rx:
        rx.open.clear()  # the receiver takes the first request and does not answer yet
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        d = Dispatcher({"hook": [target]}, store)
        d.start()
        for n in range(3_000):
            _record(store, range(n, n + 1))
            d.submit(_item(n))
        await rx.requests.wait_for(lambda got: len(got) == 1)
        worker = d.workers["hook"]
        assert len(worker.queue) + len(worker.later) <= BACKLOG_WINDOW
        assert worker.depth == 3_000 == d.depth
        rx.open.set()
        await rx.requests.wait_for(lambda got: len(got) == 3_000, timeout=60)
        await d.drain(5)
    assert [r.json()["id"] for r in rx.requests.items] == [f"id-{n:05d}" for n in range(3_000)]
    assert _statuses(store) == {"delivered": 3_000}
    store.close()


async def test_a_backlog_left_by_a_previous_run_streams_too(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    store = Store.open(tmp_path / "s.db")
    _record(store, range(1_000))
    _record(store, range(1_000, 1_010), target="gone")  # its notifier was removed since
    async with Receiver() as rx:
        rx.open.clear()
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        d = Dispatcher({"hook": [target]}, store)
        d.start()
        assert await d.resume() == 1_010
        await rx.requests.wait_for(lambda got: len(got) == 1)
        assert len(d.workers["hook"].queue) <= BACKLOG_WINDOW
        rx.open.set()
        await rx.requests.wait_for(lambda got: len(got) == 1_000, timeout=60)
        await d.drain(5)
    assert [r.json()["id"] for r in rx.requests.items] == [f"id-{n:05d}" for n in range(1_000)]
    assert _statuses(store) == {"delivered": 1_000, "failed": 10}
    assert d.stats.dropped == 10
    store.close()
