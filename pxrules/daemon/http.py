"""The daemon's HTTP surface: ``GET /healthz``, ``GET /metrics``, and the routes it is given
(the JSON API of :mod:`.api`).

Local HTTP clients are not trusted (docs/reliability.md): a connection that has not sent a whole
request within :data:`IDLE_TIMEOUT` seconds, or sits idle that long between requests, is closed;
at most :data:`MAX_CONNECTIONS` are open at once and the next ones are closed on arrival, so
inbound connections cannot use up the file descriptors the daemon needs for PxServ and its
notifiers.

>>> parse_listen(":9464"), parse_listen("0.0.0.0:80")
(('127.0.0.1', 9464), ('0.0.0.0', 80))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

#: Seconds a connection may take to send a whole request, or sit idle between requests.
IDLE_TIMEOUT = 5.0
#: Connections served at once; more are closed as they arrive.
MAX_CONNECTIONS = 64


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT``; the host defaults to 127.0.0.1 (not all interfaces)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--http wants HOST:PORT, got {value!r}")
    return host, int(port)


class HttpServer:
    """Serves ``health()`` (status code and JSON body) and the ``registry``'s metrics."""

    def __init__(
        self,
        health: Callable[[], tuple[int, dict[str, Any]]],
        registry: CollectorRegistry,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._health = health
        self._registry = registry
        self.routes: Sequence[web.RouteDef] = ()  # more routes, set before start()
        self.middlewares: Sequence[Any] = ()
        self._runner: web.AppRunner | None = None
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.refused = 0  # connections closed on arrival because the cap was reached
        self.port: int | None = None

    async def start(self, listen: str) -> int:
        """Bind ``HOST:PORT`` (port 0: any free one); return the port bound. Raises OSError."""
        host, port = parse_listen(listen)
        app = web.Application(middlewares=list(self.middlewares), client_max_size=64 * 1024)
        app.add_routes([web.get("/healthz", self._healthz), web.get("/metrics", self._metrics)])
        app.add_routes(self.routes)
        # aiohttp starts its keep-alive clock when a connection opens and closes an idle
        # handler when it runs out, so this one timeout bounds the headers' arrival too.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, keepalive_timeout=self.idle_timeout
        )
        await self._runner.setup()
        site = _CappedSite(self._runner, host, port, self)
        await site.start()
        self.port = site.port
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        code, body = self._health()
        return web.json_response(body, status=code)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Refused(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _CappedSite(web.BaseSite):
    """aiohttp's TCP site, with at most ``owner.max_connections`` connections at once."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, owner: HttpServer) -> None:
        super().__init__(runner)
        self._host, self._port, self._owner = host, port, owner
        self.port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        owner = self._owner

        def protocol() -> asyncio.Protocol:
            if len(server.connections) >= owner.max_connections:
                owner.refused += 1
                return _Refused()
            return server()

        loop = asyncio.get_running_loop()
        listening = await loop.create_server(
            protocol, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
        self._server = listening
        self.port = listening.sockets[0].getsockname()[1] if listening.sockets else self._port
