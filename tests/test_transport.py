"""The source's transport (pxrules/source/transport.py) against the stock python-socketio
client: the same server, the same packets, the same deliveries; and the stock methods it
replaces or relies on are pinned, so an upgraded python-engineio that changes them fails here
until the transport is reviewed against the new code."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import pytest
import socketio

from pxrules.source.transport import Client, Transport
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY

#: sha256 (first 16 hex digits) of the source of each stock method, as reviewed.
PINNED = {
    (engineio.AsyncClient, "_read_loop_websocket"): "83f5111bf4e5b524",  # replaced
    (engineio.AsyncClient, "_receive_packet"): "3c81b823cdfac60e",  # events inline, rest stock
    (engineio.AsyncClient, "_trigger_event"): "e90b755bdb88b800",  # handlers["message"]
    (engineio.AsyncClient, "_write_loop"): "f7cf58bb0cc880c4",  # its timeout: ping_timeout
    (socketio.AsyncClient, "_engineio_client_class"): "7edcd27eab4b0147",  # the hook
    (socketio.AsyncClient, "_handle_eio_message"): "b42a7e6e9679f71e",  # what "message" does
}


@pytest.mark.parametrize(("cls", "name"), list(PINNED))
def test_the_stock_methods_are_the_reviewed_ones(cls: type, name: str) -> None:
    digest = hashlib.sha256(inspect.getsource(getattr(cls, name)).encode()).hexdigest()[:16]
    assert digest == PINNED[(cls, name)], (
        f"{cls.__module__}.{cls.__qualname__}.{name} changed in this python-engineio/socketio "
        f"({engineio.__version__ if hasattr(engineio, '__version__') else '?'}): review "
        "pxrules/source/transport.py against it, then update PINNED"
    )


def test_the_client_runs_on_the_transport() -> None:
    client = Client(reconnection=False)
    assert type(client.eio) is Transport


async def _receive(
    client: socketio.AsyncClient, sim: Simulator, script: Callable[[], Awaitable[None]]
) -> list[Any]:
    got: list[Any] = []
    ended = asyncio.Event()

    def seen(data: Any) -> Any:  # the simulator stamps each write: compare all but the time
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "lastUpdate"}
        return data

    def on_set(data: Any = None) -> None:
        got.append(("set", seen(data)))

    def on_remove(data: Any = None) -> None:
        got.append(("remove", seen(data)))

    async def on_disconnect(*_: Any) -> None:
        ended.set()

    client.on("setData", on_set)
    client.on("removeData", on_remove)
    client.on("disconnect", on_disconnect)
    await client.connect(sim.url, auth={"apiKey": API_KEY}, transports=["websocket"])
    await script()
    await asyncio.wait_for(ended.wait(), 20)
    await client.shutdown()
    return got


async def _script(sim: Simulator) -> None:
    for n in range(200):
        await sim.set(f"k{n % 7}", str(n))
        if n % 10 == 0:
            await sim.remove(f"k{n % 7}")
    for payload in [None, 5, "x", [1, 2], {"key": ["a"]}, {"k": "v" * 10_000}]:
        await sim.emit_raw("setData", payload)
    await sim.emit_raw("otherEvent", {"ignored": True})
    await sim.set("last", "1")
    await asyncio.sleep(0.2)  # let the client read all before the server ends it
    await sim.disconnect_all()  # a server-side namespace disconnect


async def test_both_read_paths_deliver_the_same() -> None:
    got: list[list[Any]] = []
    for client in (socketio.AsyncClient(reconnection=False), Client(reconnection=False)):
        async with Simulator(api_key=API_KEY) as sim:  # a server of its own for each
            got.append(await _receive(client, sim, lambda sim=sim: _script(sim)))
    stock, ours = got
    assert len(stock) == 200 + 20 + 6 + 1
    assert ours == stock, "the two read paths differ"  # (no diff: the payloads are long)
