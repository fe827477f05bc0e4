"""One connection attempt: a python-socketio client whose handlers only hand events on.

Handlers run inline on the socket's read path, so they never await the network; the client's
own reconnection is off (the source owns the policy), and it decodes packets with orjson.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from ..events import MAX_FRAME_BYTES
from ..fastjson import PacketJson

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

    async def discard(self) -> None:
        """Disconnect and release the client, whatever state it is in."""
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        with contextlib.suppress(Exception):
            await self.client.shutdown()


async def wait_first(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def new_link(on_payload: Callable[[str, Any], None]) -> Link:
    """A client whose ``setData``/``removeData`` go to ``on_payload("set"|"remove", data)``."""
    client = socketio.AsyncClient(
        reconnection=False,
        handle_sigint=False,
        serializer=_Packet,
        # Our own loggers: given `logger=False`, both libraries attach a raw StreamHandler of
        # their own, whose lines bypass the application's format and its secret redaction.
        logger=SOCKETIO_LOG,
        engineio_logger=ENGINEIO_LOG,
        # aiohttp closes the connection on a frame over 4 MiB: read up to MAX_FRAME_BYTES, so
        # an oversized value is counted and skipped by the parser instead.
        websocket_extra_options={"max_msg_size": MAX_FRAME_BYTES},
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
