"""python-engineio's asyncio client, tuned for a stream of small events (a subclass, through
python-socketio's own extension point ``_engineio_client_class``).

Two things differ from the stock client, nothing else:

- **The watchdog is the source's.** The stock client's read and write timeouts (ping interval
  + ping timeout, and the larger + 5 s) fire at once when the process resumes from a freeze
  (SIGSTOP, a VM pause), before the packets that arrived meanwhile are read, and drop them with
  the connection. Here they are pushed out of the way (:data:`HANDED_OVER`) and each packet's
  arrival is noted (``last_packet``); the source's freeze-aware watchdog closes a link from
  which nothing came for the server's interval + timeout (``pxrules.source.client``).
- **The read path is lean.** The stock read loop wraps every frame in ``asyncio.wait_for`` (a
  task and a timer per frame) and hands every message to a new task. Here frames are read
  directly, and a Socket.IO event (the stream's ``setData``/``removeData``) is dispatched inline:
  its handlers only hand the payload on, they never await the network. Other Socket.IO packets
  (connect, disconnect, errors, acks, binary) keep the stock task: a server-side disconnect
  awaits the read loop itself.

``tests/test_transport.py`` pins the stock methods these replace: an upgraded python-engineio
that changes them fails there, loudly, until this module is reviewed against it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import aiohttp
import engineio
import socketio
from engineio import base_client
from engineio import packet as eio_packet

#: Added to the server's ping timeout in python-engineio's own timeouts: the source's watchdog
#: judges liveness instead (a day: never reached by a live connection).
HANDED_OVER = 86_400.0
#: Seconds a closing WebSocket waits for the server's close frame.
CLOSE_TIMEOUT = 1.0

_MESSAGE = eio_packet.MESSAGE
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
_EVENT_PREFIX = "2"  # a Socket.IO EVENT packet, encoded


class Transport(engineio.AsyncClient):  # type: ignore[misc]
    """python-engineio's client with the source's watchdog and a lean read path."""

    last_packet = 0.0  # time.monotonic() of the last packet received
    server_ping_timeout: float | None = None

    @property
    def ping_timeout(self) -> float | None:
        pt = self.server_ping_timeout
        return None if pt is None else pt + HANDED_OVER

    @ping_timeout.setter
    def ping_timeout(self, value: float | None) -> None:
        self.server_ping_timeout = value

    async def _receive_packet(self, pkt: Any) -> None:
        self.last_packet = time.monotonic()
        data = pkt.data
        if pkt.packet_type == _MESSAGE and isinstance(data, str) and data[:1] == _EVENT_PREFIX:
            handler = self.handlers.get("message")
            if handler is not None:
                try:
                    await handler(data)
                except Exception:
                    self.logger.exception("message async handler error")
            return
        await super()._receive_packet(pkt)

    async def _read_loop_websocket(self) -> None:
        """The stock loop without a ``wait_for`` per frame (see the module)."""
        while self.state == "connected" and self.write_loop_task:
            try:
                message = await self.ws.receive()
            except Exception as exc:
                self.logger.info('Unexpected error receiving packet: "%s", aborting', exc)
                await self.queue.put(None)
                break
            data = message.data
            if not isinstance(data, str | bytes):
                # The server closing is an ordinary end (the source logs the disconnect);
                # anything else (an error, a frame over the size limit) is worth a warning.
                closed = message.type in _CLOSED
                self.logger.log(
                    logging.INFO if closed else logging.WARNING,
                    "WebSocket %s: %s, aborting",
                    "closed by the server" if closed else "error",
                    str(data)[:200],
                )
                await self.queue.put(None)
                break
            try:
                pkt = eio_packet.Packet(encoded_packet=data)
            except Exception as exc:
                self.logger.info('Unexpected error decoding packet: "%s", aborting', exc)
                await self.queue.put(None)
                break
            await self._receive_packet(pkt)
        if self.write_loop_task:
            await self.write_loop_task
        if self.state == "connected":
            await self._trigger_event("disconnect", self.reason.TRANSPORT_ERROR, run_async=False)
            with contextlib.suppress(ValueError):
                base_client.connected_clients.remove(self)
            await self._reset()


class Client(socketio.AsyncClient):  # type: ignore[misc]
    """python-socketio's client on :class:`Transport`."""

    def _engineio_client_class(self) -> type[Transport]:
        return Transport
