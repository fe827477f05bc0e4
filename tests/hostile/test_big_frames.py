"""Finding 2: a value far over the payload limit arrives in a frame larger than the WebSocket
default (4 MiB in aiohttp). It must be counted and skipped, with the connection kept and no
other key's event lost."""

from __future__ import annotations

import asyncio

from pxrules.events import MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES
from pxrules.source import PxServSource
from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY, FAST


async def _until(condition: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_10_mb_value_is_skipped_and_the_connection_kept(sim: Simulator) -> None:
    assert MAX_FRAME_BYTES > 10_000_000
    seen: list[tuple[str, str | None]] = []
    source = PxServSource(API_KEY, sim.url, snapshot=False, backoff=FAST)
    source.events.subscribe(lambda e: seen.append((e.key, e.value)))
    async with source:
        await source.wait_connected()
        await sim.emit_raw("setData", {"key": "big", "value": "x" * 10_000_000})
        await sim.set("door", "open")  # right behind it, on the same connection
        await _until(lambda: ("door", "open") in seen)
        assert seen == [("door", "open")]
        assert source.stats.malformed["too_large"] == 1
        assert sim.connections == 1 and source.stats.reconnects == 0


async def test_5_mb_values_between_small_events_lose_none(sim: Simulator) -> None:
    seen: list[str] = []
    source = PxServSource(API_KEY, sim.url, snapshot=False, backoff=FAST)
    source.events.subscribe(lambda e: seen.append(e.key))
    async with source:
        await source.wait_connected()
        for n in range(40):
            if n % 4 == 0:
                await sim.emit_raw("setData", {"key": "cam", "value": "y" * 5_000_000})
            await sim.set(f"k{n}", str(n))
        await _until(lambda: len(seen) == 40)
        assert seen == [f"k{n}" for n in range(40)]
        assert source.stats.malformed["too_large"] == 10
        assert sim.connections == 1


async def test_a_frame_over_the_transport_limit_costs_one_reconnect_not_the_data(
    sim: Simulator,
) -> None:
    """Past MAX_FRAME_BYTES the frame is not read: the connection ends, and the snapshot after
    the reconnect brings back what was written meanwhile."""
    seen: list[tuple[str, str | None]] = []
    source = PxServSource(API_KEY, sim.url, backoff=FAST)
    source.events.subscribe(lambda e: seen.append((e.key, e.value)))
    async with source:
        await source.wait_connected()
        await _until(lambda: source.stats.snapshots == 1)
        await sim.emit_raw("setData", {"key": "huge", "value": "z" * (MAX_FRAME_BYTES + 10)})
        sim.set_quietly("door", "closed")
        await _until(lambda: ("door", "closed") in seen)
        assert source.stats.reconnects == 1 and source.stats.snapshots == 2
        assert seen == [("door", "closed")]
    assert MAX_PAYLOAD_BYTES < MAX_FRAME_BYTES
