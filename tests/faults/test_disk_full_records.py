"""While the state file cannot be written, deliveries go on; their records are kept and tried
again (0.5 s, then doubling up to 5 s) until they are written, so a delivered item is not left
marked pending; the error is logged once, not per attempt or per try."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from pxrules.daemon.delivery import Dispatcher
from pxrules.daemon.notifiers.log import LogTarget
from pxrules.daemon.store import OutboxItem, Store


def item(n: int) -> OutboxItem:
    document = {"id": f"a{n}", "rule": "r", "key": "k", "state": "firing", "severity": "info",
                "value": "1", "message": "m", "title": "t"}  # fmt: skip
    return OutboxItem(f"a{n}", "log", "log", document, 0.0, 0, 0.0)


async def test_records_refused_by_a_full_disk_are_written_later_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="pxrules.dispatch")
    store = Store.open(tmp_path / "s.db")
    items = [item(n) for n in range(31)]
    store.record_alerts([(i.id, i.target, i.notifier, i.document) for i in items], [], 0.0)
    dispatcher = Dispatcher({"log": [LogTarget()]}, store)
    dispatcher.start()
    try:
        store._db.execute("PRAGMA query_only=ON")  # every write now fails, as on a full disk
        for one in items[:30]:
            dispatcher.submit(one)
        while dispatcher.stats.notifications[("log", "delivered")] < 30:
            await asyncio.sleep(0.01)
        while not any("attempt record(s) kept" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
        while dispatcher.store_errors._suppressed < 2:  # the writer has tried twice more
            await asyncio.sleep(0.01)
        refused = [r for r in caplog.records if "attempt record(s) kept" in r.getMessage()]
        assert len(refused) == 1  # not one line per attempt or per try
        assert len(await store.run(store.pending)) == 31  # nothing could be marked yet

        store._db.execute("PRAGMA query_only=OFF")  # the disk has room again
        while len(await store.run(store.pending)) > 1:  # written by the next try, unasked
            await asyncio.sleep(0.05)
        dispatcher.submit(items[30])
        while dispatcher.stats.notifications[("log", "delivered")] < 31:
            await asyncio.sleep(0.01)
        await asyncio.gather(*dispatcher._background)
        assert store.pending() == []  # the 30 kept records were written before the new one
        assert [row[0] for row in store.delivery_log()] == [f"a{n}" for n in range(31)]
    finally:
        await dispatcher.drain(0)
        store.close()
