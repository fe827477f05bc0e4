"""Finding 9: local HTTP clients are not trusted. Half-open connections (a request that never
finishes its headers) are closed after the idle timeout; connections past the cap are closed on
arrival; a whole request is still served meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.registry import CollectorRegistry

from pxrules.daemon.http import HttpServer


def _healthy() -> tuple[int, dict[str, Any]]:
    return 200, {"status": "ok"}


async def _half_open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader, within: float = 10.0) -> bool:
    try:
        async with asyncio.timeout(within):
            return await reader.read() == b""
    except (ConnectionError, TimeoutError):
        return False


async def test_half_open_connections_are_closed_after_the_idle_timeout() -> None:
    server = HttpServer(_healthy, CollectorRegistry(), idle_timeout=0.3, max_connections=50)
    port = await server.start("127.0.0.1:0")
    try:
        conns = [await _half_open(port) for _ in range(20)]
        closed = await asyncio.gather(*(_closed_by_server(r) for r, _ in conns))
        assert all(closed)
        assert server.refused == 0
        for _, writer in conns:
            writer.close()
    finally:
        await server.close()


async def test_connections_over_the_cap_are_refused_and_health_still_answers() -> None:
    server = HttpServer(_healthy, CollectorRegistry(), idle_timeout=60.0, max_connections=10)
    port = await server.start("127.0.0.1:0")
    try:
        held = [await _half_open(port) for _ in range(10)]
        extra = [await _half_open(port) for _ in range(5)]
        assert all(await asyncio.gather(*(_closed_by_server(r) for r, _ in extra)))
        assert server.refused == 5
        for _, writer in held[:3]:  # three slots free again
            writer.close()
            await writer.wait_closed()
        async with aiohttp.ClientSession() as session:
            for _ in range(50):  # the server notices the closes on its next loop turns
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        assert await response.json() == {"status": "ok"}
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("healthz never answered after slots were freed")
        for _, writer in held[3:]:
            writer.close()
    finally:
        await server.close()


async def test_the_daemon_default_bounds_are_set() -> None:
    server = HttpServer(_healthy, CollectorRegistry())
    assert 0 < server.idle_timeout <= 10 and 0 < server.max_connections <= 256
