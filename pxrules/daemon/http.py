"""The daemon's HTTP surface: ``GET /healthz`` and ``GET /metrics``.

>>> parse_listen(":9464"), parse_listen("0.0.0.0:80")
(('127.0.0.1', 9464), ('0.0.0.0', 80))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry


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
        self, health: Callable[[], tuple[int, dict[str, Any]]], registry: CollectorRegistry
    ) -> None:
        self._health = health
        self._registry = registry
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, listen: str) -> int:
        """Bind ``HOST:PORT`` (port 0: any free one); return the port bound. Raises OSError."""
        host, port = parse_listen(listen)
        app = web.Application()
        app.add_routes([web.get("/healthz", self._healthz), web.get("/metrics", self._metrics)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
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
