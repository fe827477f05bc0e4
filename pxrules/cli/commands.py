"""The asyncio bodies of the ``simulate`` and ``tail`` commands.

The click layer in :mod:`pxrules.cli` only parses arguments and calls these.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO

from ..daemon.signals import stop_on_signals, wait_for_stop
from ..events import Event, format_time
from ..source.client import ConnectionStatus, PxServSource
from ..testing.simulator import Simulator, demo_script, run_generator


def event_line(event: Event) -> str:
    """One JSON line for ``tail``: the event's fields, times as ISO-8601."""
    return json.dumps(
        {
            "kind": event.kind,
            "key": event.key,
            "value": event.value,
            "number": event.number,
            "at": format_time(event.at),
            "icon": event.icon,
            "origin": event.origin,
        },
        ensure_ascii=False,
    )


async def simulate(host: str, port: int, api_key: str, generate: bool, out: IO[str]) -> None:
    """Serve the simulator until SIGINT/SIGTERM; optionally with the demo readings."""
    stop = asyncio.Event()
    with stop_on_signals(stop):
        async with Simulator(api_key=api_key, host=host, port=port) as sim:
            print(f"PxServ simulator on {sim.url} (Socket.IO + REST); Ctrl-C stops it", file=out)
            out.flush()
            if generate:
                sim.spawn(run_generator(demo_script(sim)))
            await wait_for_stop(stop, None)


async def tail(source: PxServSource, out: IO[str], record: Path | None) -> None:
    """Print live events as JSON lines until stopped; append them to ``record`` if given."""
    stop = asyncio.Event()
    sink = record.open("a", encoding="utf-8") if record else None

    def on_event(event: Event) -> None:
        out.write(event_line(event) + "\n")
        out.flush()
        if sink is not None:
            sink.write(json.dumps(event.to_record(), ensure_ascii=False) + "\n")
            sink.flush()

    def on_status(status: ConnectionStatus) -> None:
        reason = f" ({status.reason})" if status.reason else ""
        print(f"# {status.state.value}{reason}", file=sys.stderr)

    try:
        source.events.subscribe(on_event)
        source.status.subscribe(on_status)
        with stop_on_signals(stop):
            async with source:
                closed = asyncio.ensure_future(source.wait_closed())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait([closed, stopped], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if closed.done():
                    closed.result()  # re-raise a refusal
                else:
                    closed.cancel()
    finally:
        if sink is not None:
            sink.close()
