"""A PxServ stand-in: the Socket.IO push surface and the REST database API (docs/reference.md).

Used by ``pxrules simulate``, ``pxrules demo`` and the tests (on a real port)::

    async with Simulator(api_key="k") as sim:       # binds 127.0.0.1 on a free port
        await sim.set("humidity", "71.5")           # stored, pushed to clients as setData
        await sim.disconnect_all()                  # server-side namespace disconnect
        await sim.pause(); await sim.resume()       # listening socket down, then up again
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import socketio
from aiohttp import web

from ..events import format_time

log = logging.getLogger("pxrules.simulator")

INVALID_KEY = "Invalid API key."


@dataclass
class _Item:
    value: str
    last_update: str
    icon: str | None = None

    def payload(self, key: str) -> dict[str, Any]:
        return {"key": key, "lastUpdate": self.last_update, "icon": self.icon, "value": self.value}


class Simulator:
    """An in-process PxServ server. ``port=0`` picks a free port; :attr:`url` tells it."""

    def __init__(
        self,
        api_key: str = "demo-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.data: dict[str, _Item] = {}
        self.connections = 0  # accepted Socket.IO connections since start, for tests
        self.refusals = 0  # refused Socket.IO connections since start, for tests
        self._sio = socketio.AsyncServer(
            async_mode="aiohttp",
            cors_allowed_origins="*",
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            logger=False,
            engineio_logger=False,
            # PxServ payloads are small; keep a hostile client from sending huge frames.
            max_http_buffer_size=1_000_000,
        )
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._clients: set[str] = set()
        self._app = web.Application(client_max_size=1_000_000)
        self._sio.attach(self._app)
        self._app.add_routes(
            [
                web.get("/database/getAll", self._get_all),
                web.get("/database/getData", self._get_data),
                web.post("/database/getData", self._get_data),
                web.post("/database/setData", self._set_data),
                web.post("/database/toggleData", self._toggle_data),
                web.post("/database/removeData", self._remove_data),
            ]
        )
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clients(self) -> int:
        """Number of Socket.IO clients connected now."""
        return len(self._clients)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self._listen()
        log.info("PxServ simulator listening on %s", self.url)
        return self

    async def _listen(self) -> None:
        assert self._runner is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def pause(self) -> None:
        """Stop listening and drop every client: to clients this looks like the server died."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._sio.eio.sockets:
            # Engine.IO level: the transport closes, as when a server process dies.
            await self._sio.eio.disconnect()
        self._clients.clear()

    async def resume(self) -> None:
        """Listen again on the same port after :meth:`pause`."""
        if self._site is None:
            await self._listen()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pause()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- driving it from tests and the generator ------------------------------------------

    async def set(self, key: str, value: str, icon: str | None = None) -> dict[str, Any]:
        """Store a value and push ``setData`` to every client, as a device write would."""
        item = self.data.get(key)
        item = _Item(value, format_time(datetime.now(UTC)), icon or (item.icon if item else None))
        self.data[key] = item
        payload = item.payload(key)
        await self._sio.emit("setData", payload)
        return payload

    def set_quietly(self, key: str, value: str) -> None:
        """Change a value without pushing it: what a client misses during an outage."""
        self.data[key] = _Item(value, format_time(datetime.now(UTC)))

    async def remove(self, key: str) -> bool:
        if self.data.pop(key, None) is None:
            return False
        await self._sio.emit("removeData", {"key": key})
        return True

    async def emit_raw(self, event: str, payload: Any) -> None:
        """Push an arbitrary payload (malformed ones included) to every client."""
        await self._sio.emit(event, payload)

    async def disconnect_all(self) -> None:
        """Server-side namespace disconnect of every client (Node's ``disconnectSockets(true)``)."""
        for sid in list(self._clients):
            await self._sio.disconnect(sid)

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a background coroutine that :meth:`stop` cancels."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- Socket.IO ------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if not isinstance(auth, dict) or auth.get("apiKey") != self.api_key:
            self.refusals += 1
            raise socketio.exceptions.ConnectionRefusedError(INVALID_KEY)
        self._clients.add(sid)
        self.connections += 1

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._clients.discard(sid)

    # -- REST -----------------------------------------------------------------------------

    @staticmethod
    def _reply(status: int, message: str, data: Any = None) -> web.Response:
        body = {"status": status, "message": message}
        if data is not None:
            body["data"] = data
        return web.json_response(body, status=status)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("apikey") == self.api_key

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    async def _key_from(self, request: web.Request) -> str | None:
        if request.method == "GET":
            return request.query.get("key")
        body = await self._body(request)
        key = body.get("key") if body else None
        return key if isinstance(key, str) and key else None

    async def _get_all(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(401, INVALID_KEY)
        return self._reply(200, "OK", {key: item.value for key, item in self.data.items()})

    async def _get_data(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        item = self.data.get(key)
        if item is None:
            return self._reply(404, "Data not found.")
        return self._reply(200, "OK", item.payload(key))

    async def _set_data(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(401, INVALID_KEY)
        body = await self._body(request)
        if body is None or not isinstance(body.get("key"), str) or not body["key"]:
            return self._reply(400, "Key is required.")
        value = body.get("value")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return self._reply(400, "Value must be a string.")
        icon = body.get("icon") if isinstance(body.get("icon"), str) else None
        return self._reply(200, "OK", await self.set(body["key"], str(value), icon))

    async def _toggle_data(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        current = self.data.get(key)
        if current is not None and current.value not in ("0", "1"):
            return self._reply(400, "Value is not 0 or 1.")
        new = "0" if current is not None and current.value == "1" else "1"
        return self._reply(200, "OK", await self.set(key, new))

    async def _remove_data(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        if not await self.remove(key):
            return self._reply(404, "Data not found.")
        return self._reply(200, "OK")


# -- the demo generator -------------------------------------------------------------------

#: One tick of generated readings, called with the seconds since the generator started.
Tick = Callable[[float], Awaitable[None]]


def demo_script(sim: Simulator, seed: int = 7) -> Tick:
    """One tick of the demo readings at ``t`` seconds since start.

    - ``humidity``: a slow wave around 66 % that crosses 70 for ~10 s every 30 s, with noise;
    - ``temperature``: about 21 °C with noise;
    - ``door``: "0" at the start, then flips every 9 s;
    - ``soil``: reports every tick for 8 s, then goes silent (a dead sensor).
    """
    rng = random.Random(seed)
    door = "0"

    async def step(t: float) -> None:
        nonlocal door
        humidity = 66.0 + 7.0 * math.sin(2 * math.pi * t / 30.0) + rng.uniform(-0.5, 0.5)
        await sim.set("humidity", f"{humidity:.2f}", icon="hum")
        await sim.set("temperature", f"{21 + rng.uniform(-1.5, 1.5):.1f}", icon="temp")
        if t % 9 == 0:  # seen closed at the start, then flips every 9 s
            door = door if t == 0 else ("1" if door == "0" else "0")
            await sim.set("door", door, icon="door")
        if t < 8:
            await sim.set("soil", f"{35 + rng.uniform(-2, 2):.1f}", icon="soil")

    return step


async def run_generator(step: Tick, interval: float = 1.0, duration: float | None = None) -> None:
    """Call ``step(t)`` every ``interval`` seconds (``t`` from 0) until ``duration`` passes."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    while duration is None or tick * interval <= duration:
        await step(tick * interval)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * interval - loop.time()))
