"""A webhook receiver that answers with a huge body does not fill the daemon's memory."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from pxrules.daemon.notifiers.base import Outcome
from pxrules.daemon.notifiers.webhook import WebhookTarget
from pxrules.rules.schema import WebhookSpec

CHUNK = b"x" * (1024 * 1024)
SIZE_MB = 200


@pytest.fixture
async def huge_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Streams a 200 MB body (never built in memory) and counts how much was sent."""
    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        try:
            for _ in range(SIZE_MB):
                await response.write(CHUNK)
                sent[0] += len(CHUNK)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", sent
    await runner.cleanup()


async def test_a_huge_response_body_is_not_read(huge_server: tuple[str, list[int]]) -> None:
    url, _ = huge_server
    spec = WebhookSpec(url=url)
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as session:
            result = await WebhookTarget("hook", spec, session).send({"id": "a1", "x": 1})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome is Outcome.DELIVERED
    assert peak < 50 * 1024 * 1024, f"peak {peak} bytes while the body was {SIZE_MB} MB"
