"""``pxrules simulate``: the PxServ simulator alone, for testing rules and apps."""

from __future__ import annotations

import asyncio
import sys
from typing import IO

import click

from .logs import setup_logging


@click.command(
    short_help="Run the PxServ simulator alone.",
    epilog="\b\nExample:\n  pxrules simulate --demo-data &\n"
    "  curl -X POST localhost:8765/database/setData -H 'apikey: demo-key' \\\n"
    '       -H \'content-type: application/json\' -d \'{"key":"humidity","value":"75"}\'',
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to bind (0: any).")
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    default=("demo-key",),
    show_default=True,
    help="A project key to accept; repeat it to serve several projects (each its own keys).",
)
@click.option(
    "--demo-data/--no-demo-data",
    default=False,
    show_default=True,
    help="Generate the demo readings.",
)
def simulate(host: str, port: int, api_keys: tuple[str, ...], demo_data: bool) -> None:
    """Run the PxServ simulator (Socket.IO + REST) for testing rules and apps."""
    setup_logging("warning")
    asyncio.run(serve(host, port, api_keys, demo_data, sys.stdout))


async def serve(
    host: str, port: int, api_keys: tuple[str, ...], generate: bool, out: IO[str]
) -> None:
    """Serve the simulator until SIGINT/SIGTERM; optionally with the demo readings."""
    from ..daemon.signals import stop_on_signals, wait_for_stop
    from ..testing.simulator import Simulator, demo_script, run_generator

    stop = asyncio.Event()
    with stop_on_signals(stop):
        first, *more = api_keys
        async with Simulator(api_key=first, api_keys=more, host=host, port=port) as sim:
            served = f"{len(api_keys)} projects" if more else "1 project"
            print(f"PxServ simulator on {sim.url} (Socket.IO + REST, {served}); Ctrl-C stops it",
                  file=out)  # fmt: skip
            out.flush()
            if generate:  # the demo readings, in every project
                for project in sim.projects.values():
                    sim.spawn(run_generator(demo_script(project)))
            await wait_for_stop(stop, None)
