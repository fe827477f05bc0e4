"""A real local HTTP receiver that records every request and answers from a script."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .helpers import Collector


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the server stops)
    reset: bool = False  # drop the TCP connection without an answer
    delay: float = 0.0  # answer after this many seconds (a slow target)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """``plan[path]`` is consumed one reply per request; when empty, 200."""

    def __init__(self, plan: dict[str, Sequence[Reply]] | None = None) -> None:
        self.plan = {path: list(replies) for path, replies in (plan or {}).items()}
        self.requests: Collector[Request] = Collector()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._hung: list[asyncio.Event] = []
        self.open = asyncio.Event()  # cleared: requests are recorded, answered once it is set
        self.open.set()
        self._reserved: socket.socket | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests.items if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests(Request(request.path, dict(request.headers), body, time.monotonic()))
        replies = self.plan.get(request.path) or []
        reply = replies.pop(0) if replies else Reply()
        await self.open.wait()
        if reply.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            gate = asyncio.Event()
            self._hung.append(gate)
            await gate.wait()
        return web.Response(status=reply.status, headers=reply.headers, text="{}")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site: web.BaseSite
        if self._reserved is not None:  # the port it held refused connections until now
            site = web.SockSite(self._runner, self._reserved)
        else:
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def reserve(self) -> int:
        """Take a port now, bound but not listening (every connection to it is refused), that
        ``async with`` later serves on: a receiver that is down, then comes up on the same URL,
        with no window in which another program could take the port."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._reserved = sock
        self.port = sock.getsockname()[1]
        return self.port

    async def __aexit__(self, *exc: object) -> None:
        self.open.set()
        for gate in self._hung:
            gate.set()
        assert self._runner is not None
        await self._runner.shutdown()
        await self._runner.cleanup()
