"""A PxServ stand-in: the Socket.IO push surface and the REST database API (docs/reference.md).

Used by ``pxrules simulate``, ``pxrules demo`` and the tests (on a real port)::

    async with Simulator(api_key="k") as sim:       # binds 127.0.0.1 on a free port
        await sim.set("humidity", "71.5")           # stored, pushed to clients as setData
        await sim.disconnect_all()                  # server-side namespace disconnect
        await sim.pause(); await sim.resume()       # listening socket down, then up again

One server serves several projects, as PxServ does: each API key is a project with its own
keys, and a client sees only its own project's changes::

    async with Simulator(api_key="a", api_keys=["b", "c"]) as sim:
        await sim.project("b").set("humidity", "40")  # only clients of key "b" hear it
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import socket
from collections.abc import Awaitable, Callable, Iterable
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


class Project:
    """One project of the simulator: its keys and values; what it changes is pushed to the
    clients connected with its API key only."""

    def __init__(self, server: socketio.AsyncServer, api_key: str) -> None:
        self.api_key = api_key
        self.data: dict[str, _Item] = {}
        self.clients: set[str] = set()  # Socket.IO session ids connected with this key
        self._sio = server

    async def set(self, key: str, value: str, icon: str | None = None) -> dict[str, Any]:
        """Store a value and push ``setData`` to its clients, as a device write would."""
        item = self.data.get(key)
        item = _Item(value, format_time(datetime.now(UTC)), icon or (item.icon if item else None))
        self.data[key] = item
        payload = item.payload(key)
        await self._sio.emit("setData", payload, to=self.api_key)
        return payload

    def set_quietly(self, key: str, value: str) -> None:
        """Change a value without pushing it: what a client misses during an outage."""
        self.data[key] = _Item(value, format_time(datetime.now(UTC)))

    async def remove(self, key: str) -> bool:
        if self.data.pop(key, None) is None:
            return False
        await self._sio.emit("removeData", {"key": key}, to=self.api_key)
        return True

    async def emit_raw(self, event: str, payload: Any) -> None:
        """Push an arbitrary payload (malformed ones included) to its clients."""
        await self._sio.emit(event, payload, to=self.api_key)


class Simulator:
    """An in-process PxServ server. ``port=0`` picks a free port; :attr:`url` tells it.

    ``api_key`` is the first project's key (the one :meth:`set` and :attr:`data` use);
    ``api_keys`` adds more projects (:meth:`project`, :meth:`add_project`)."""

    def __init__(
        self,
        api_key: str = "demo-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] = (),
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port
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
        self._clients: dict[str, Project] = {}  # session id → its project
        self.projects: dict[str, Project] = {}
        self.main = self.add_project(api_key)
        self.data = self.main.data  # the first project's keys
        for key in api_keys:
            self.add_project(key)
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
    def api_key(self) -> str:
        """The first project's key."""
        return self.main.api_key

    @api_key.setter
    def api_key(self, key: str) -> None:
        """Rotate the first project's key: the old one is refused from now on (its clients
        stay connected, as a revoked key's session does until it is dropped)."""
        del self.projects[self.main.api_key]
        self.main.api_key = key
        self.projects[key] = self.main

    @property
    def clients(self) -> int:
        """Number of Socket.IO clients connected now (of every project)."""
        return len(self._clients)

    def add_project(self, api_key: str) -> Project:
        """Serve one more project (or return the one with this key)."""
        project = self.projects.get(api_key)
        if project is None:
            project = self.projects[api_key] = Project(self._sio, api_key)
        return project

    def project(self, api_key: str) -> Project:
        return self.projects[api_key]

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
        for project in self.projects.values():
            project.clients.clear()

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
        """Store a value in the first project and push ``setData`` to its clients."""
        return await self.main.set(key, value, icon)

    def set_quietly(self, key: str, value: str) -> None:
        """Change a value without pushing it: what a client misses during an outage."""
        self.main.set_quietly(key, value)

    async def remove(self, key: str) -> bool:
        return await self.main.remove(key)

    async def emit_raw(self, event: str, payload: Any) -> None:
        """Push an arbitrary payload (malformed ones included) to the first project's clients."""
        await self.main.emit_raw(event, payload)

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
        key = auth.get("apiKey") if isinstance(auth, dict) else None
        project = self.projects.get(key) if isinstance(key, str) else None
        if project is None:
            self.refusals += 1
            raise socketio.exceptions.ConnectionRefusedError(INVALID_KEY)
        await self._sio.enter_room(sid, project.api_key)
        self._clients[sid] = project
        project.clients.add(sid)
        self.connections += 1

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        project = self._clients.pop(sid, None)
        if project is not None:
            project.clients.discard(sid)

    # -- REST -----------------------------------------------------------------------------

    @staticmethod
    def _reply(status: int, message: str, data: Any = None) -> web.Response:
        body = {"status": status, "message": message}
        if data is not None:
            body["data"] = data
        return web.json_response(body, status=status)

    def _project_of(self, request: web.Request) -> Project | None:
        """The project whose API key the request carries (None: refused)."""
        return self.projects.get(request.headers.get("apikey", ""))

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
        if (project := self._project_of(request)) is None:
            return self._reply(401, INVALID_KEY)
        return self._reply(200, "OK", {key: item.value for key, item in project.data.items()})

    async def _get_data(self, request: web.Request) -> web.Response:
        if (project := self._project_of(request)) is None:
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        item = project.data.get(key)
        if item is None:
            return self._reply(404, "Data not found.")
        return self._reply(200, "OK", item.payload(key))

    async def _set_data(self, request: web.Request) -> web.Response:
        if (project := self._project_of(request)) is None:
            return self._reply(401, INVALID_KEY)
        body = await self._body(request)
        if body is None or not isinstance(body.get("key"), str) or not body["key"]:
            return self._reply(400, "Key is required.")
        value = body.get("value")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return self._reply(400, "Value must be a string.")
        icon = body.get("icon") if isinstance(body.get("icon"), str) else None
        return self._reply(200, "OK", await project.set(body["key"], str(value), icon))

    async def _toggle_data(self, request: web.Request) -> web.Response:
        if (project := self._project_of(request)) is None:
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        current = project.data.get(key)
        if current is not None and current.value not in ("0", "1"):
            return self._reply(400, "Value is not 0 or 1.")
        new = "0" if current is not None and current.value == "1" else "1"
        return self._reply(200, "OK", await project.set(key, new))

    async def _remove_data(self, request: web.Request) -> web.Response:
        if (project := self._project_of(request)) is None:
            return self._reply(401, INVALID_KEY)
        key = await self._key_from(request)
        if key is None:
            return self._reply(400, "Key is required.")
        if not await project.remove(key):
            return self._reply(404, "Data not found.")
        return self._reply(200, "OK")


# -- the demo generator -------------------------------------------------------------------

#: One tick of generated readings, called with the seconds since the generator started.
Tick = Callable[[float], Awaitable[None]]


def demo_script(sim: Simulator | Project, seed: int = 7) -> Tick:
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
