"""``pxrules demo``: the simulator, the bundled demo rules and the daemon, in one terminal."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import IO

import click

from ..events import Event
from .logs import setup_logging

DEMO_KEY = "demo-key"


@click.command(
    short_help="The simulator with demo rules: live readings and alerts.",
    epilog="Ctrl-C stops it. Exit code 0.",
)
@click.option("--duration", type=float, default=None, help="Stop after S seconds.")
def demo(duration: float | None) -> None:
    """Run the built-in simulator with demo rules: live readings and alerts."""
    setup_logging("warning", alerts_to=sys.stdout)
    sys.exit(asyncio.run(run_demo(duration, sys.stdout)))


def _print_event(out: IO[str]) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        clock = event.at.strftime("%H:%M:%S")
        value = "(removed)" if event.kind == "remove" else event.value
        out.write(f"{clock}   {event.key:<12} {value}\n")
        out.flush()

    return show


async def run_demo(duration: float | None, out: IO[str]) -> int:
    """The simulator with the demo readings and a daemon on the bundled rules, until stopped
    (or ``duration`` seconds)."""
    from ..daemon.service import Daemon, RunOptions
    from ..testing.simulator import Simulator, demo_script, run_generator

    rules = resources.files("pxrules").joinpath("data/demo.yaml")
    with tempfile.TemporaryDirectory(prefix="pxrules-demo-") as tmp:
        rules_path = Path(tmp) / "demo.yaml"
        rules_path.write_text(rules.read_text(encoding="utf-8"), encoding="utf-8")
        async with Simulator(api_key=DEMO_KEY) as sim:
            out.write(
                f"pxrules demo — simulator on {sim.url}, rules: humidity above 70 for 3 s "
                "(clears below 67), soil sensor silent 5 s, door changes. Ctrl-C stops.\n\n"
            )
            out.flush()
            daemon = Daemon(
                RunOptions(
                    rules_path=rules_path,
                    state_path=str(Path(tmp) / "state.db"),
                    grace=2.0,
                    env={"DEMO_URL": sim.url, "DEMO_KEY": DEMO_KEY},
                ),
                on_event=_print_event(out),
            )
            sim.spawn(run_generator(demo_script(sim)))
            if duration is not None:
                asyncio.get_running_loop().call_later(duration, daemon.stop)
            return await daemon.run()
