"""``pxrules demo``: the simulator, the bundled demo rules and the daemon, in one terminal."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import IO

from ..daemon.service import Daemon, RunOptions
from ..events import Event
from ..testing.simulator import Simulator, demo_script, run_generator

DEMO_KEY = "demo-key"


def _print_event(out: IO[str]) -> object:
    def show(event: Event) -> None:
        clock = event.at.strftime("%H:%M:%S")
        value = "(removed)" if event.kind == "remove" else event.value
        out.write(f"{clock}   {event.key:<12} {value}\n")
        out.flush()

    return show


def _setup_logging(out: IO[str]) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    quiet = logging.StreamHandler(sys.stderr)
    quiet.setLevel(logging.WARNING)
    root.addHandler(quiet)
    root.setLevel(logging.INFO)
    alerts = logging.StreamHandler(out)
    alerts.setFormatter(logging.Formatter("%(asctime)s >>> ALERT %(message)s", "%H:%M:%S"))
    alert_log = logging.getLogger("pxrules.alerts")
    alert_log.addHandler(alerts)
    alert_log.propagate = False


async def demo(duration: float | None, out: IO[str]) -> int:
    _setup_logging(out)
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
                on_event=_print_event(out),  # type: ignore[arg-type]
            )
            sim.spawn(run_generator(demo_script(sim)))
            if duration is not None:
                asyncio.get_running_loop().call_later(duration, daemon.stop)
            return await daemon.run()
