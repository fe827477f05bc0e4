"""One connection attempt: a python-socketio client whose handlers only hand events on.

Handlers run inline on the socket's read path, so they never await the network; the client's
own reconnection is off (the source owns the policy), and it decodes packets with orjson.

The source also owns the liveness watchdog. python-engineio's own (a read timeout of ping
interval + ping timeout, a write timeout of the larger + 5 s) fires at once when the process
resumes from a freeze (SIGSTOP, a VM pause) — before the packets that arrived meanwhile are
read, and it drops them with the connection. :class:`Transport` pushes those timeouts out of
the way and notes when each packet arrives; :meth:`Link.silent_for` is what the source's
freeze-aware watchdog reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from ..events import MAX_FRAME_BYTES
from ..fastjson import PacketJson
from .transport import CLOSE_TIMEOUT, Client, Transport

SOCKETIO_LOG = logging.getLogger("pxrules.socketio")
ENGINEIO_LOG = logging.getLogger("pxrules.engineio")
# Warnings and errors only: at debug level both libraries dump packets, and the CONNECT packet
# carries the API key (the handshake auth).
for _logger in (SOCKETIO_LOG, ENGINEIO_LOG):
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.WARNING)


class _Packet(socketio.packet.Packet):  # type: ignore[misc]
    """python-socketio's packet with orjson decoding (fastjson), for this client only:
    passing ``json=`` to the client would change the class every client and server shares."""

    json = PacketJson


@dataclass
class Link:
    """One connection attempt: its client, why it was refused or closed."""

    client: socketio.AsyncClient
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    refusal: str | None = None  # the server's reason for refusing the namespace
    reason: str | None = None  # why the connection ended

    def liveness(self) -> tuple[float, float] | None:
        """(seconds since the last packet, how long the server allows), once connected."""
        eio = self.client.eio
        if not isinstance(eio, Transport) or eio.server_ping_timeout is None:
            return None
        allowed = float(eio.ping_interval or 0) + eio.server_ping_timeout
        return time.monotonic() - eio.last_packet, allowed

    def restart_liveness(self) -> None:
        """After a freeze: the server gets a full ping window again before it is judged."""
        eio = self.client.eio
        if isinstance(eio, Transport):
            eio.last_packet = time.monotonic()

    async def caught_up(self, turns: int = 20, step: float = 0.01, limit: float = 2.0) -> None:
        """Return once the packets already received are read: no new packet for ``turns``
        loop turns in a row (each at least ``step`` seconds; a packet waiting in the buffer is
        read within a few turns), or after ``limit`` seconds of a busy stream."""
        eio = self.client.eio
        if not isinstance(eio, Transport):
            return
        deadline = time.monotonic() + limit
        quiet, seen = 0, eio.last_packet
        while quiet < turns and time.monotonic() < deadline and not self.closed.is_set():
            await asyncio.sleep(step)
            quiet, seen = (quiet + 1, seen) if eio.last_packet == seen else (0, eio.last_packet)

    async def discard(self) -> None:
        """Disconnect and release the client, whatever state it is in."""
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        with contextlib.suppress(Exception):
            await self.client.shutdown()


async def wait_first(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return as soon as one of ``events`` is set (or after ``timeout`` seconds)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def new_link(on_payload: Callable[[str, Any], None]) -> Link:
    """A client whose ``setData``/``removeData`` go to ``on_payload("set"|"remove", data)``."""
    client = Client(
        reconnection=False,
        handle_sigint=False,
        serializer=_Packet,
        # Our own loggers: given `logger=False`, both libraries attach a raw StreamHandler of
        # their own, whose lines bypass the application's format and its secret redaction.
        logger=SOCKETIO_LOG,
        engineio_logger=ENGINEIO_LOG,
        # aiohttp closes the connection on a frame over 4 MiB: read up to MAX_FRAME_BYTES, so
        # an oversized value is counted and skipped by the parser instead.
        # The close handshake waits at most CLOSE_TIMEOUT: a link the watchdog found silent
        # would otherwise hold the reconnect for python-engineio's request timeout.
        websocket_extra_options={
            "max_msg_size": MAX_FRAME_BYTES,
            "timeout": aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT),
        },
    )
    link = Link(client)

    async def on_connect_error(data: Any = None) -> None:
        # Only a namespace refusal carries {"message": ...}; transport errors are strings.
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            link.refusal = data["message"][:200]

    async def on_disconnect(reason: Any = None) -> None:
        link.reason = str(reason) if reason else "disconnected"
        link.closed.set()

    # Plain functions: python-socketio calls them inline, without a coroutine per event.
    def on_set(data: Any = None) -> None:
        on_payload("set", data)

    def on_remove(data: Any = None) -> None:
        on_payload("remove", data)

    client.on("connect_error", on_connect_error)
    client.on("disconnect", on_disconnect)
    client.on("setData", on_set)
    client.on("removeData", on_remove)
    return link


def settle(future: asyncio.Future[None] | None, error: BaseException | None) -> None:
    """Resolve the first-connect ``future`` once: with success, or with ``error``."""
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
        future.exception()  # mark retrieved: wait_closed() is where callers see it
