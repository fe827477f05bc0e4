"""``pxrules replay``: back-test rules on recorded events (pxrules.engine.replay.Replayer)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO

import click

from ..alerts import Alert
from ..errors import ExitCode
from ..rules import load_file


@click.command()
@click.argument("rules_file", type=click.Path(path_type=Path))
@click.argument("events_file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--send", is_flag=True, help="Deliver the alerts through the notifiers.")
def replay(rules_file: Path, events_file: Path, fmt: str, send: bool) -> None:
    """Back-test rules on recorded events in virtual time; print alert transitions."""
    sys.exit(run_replay(rules_file, events_file, fmt, send, sys.stdout, sys.stderr))


def run_replay(
    rules_file: Path, events_file: Path, fmt: str, send: bool, out: IO[str], err: IO[str]
) -> ExitCode:
    """Replay ``events_file`` through the rules; print alerts; return the exit code."""
    from ..engine import RuleSet
    from ..engine.replay import RecordError, Replayer, read_records

    # Without --send nothing is delivered, so a secret left unset is only a warning.
    loaded = load_file(rules_file, strict_env=send)
    for problem in loaded.problems:
        err.write(f"{problem}\n")
    if not loaded.ok or loaded.config is None:
        return ExitCode.INVALID
    if not events_file.is_file():
        err.write(f"{events_file}: cannot read the events file\n")
        return ExitCode.INVALID

    sent: list[Alert] = []

    def emit(alert: Alert) -> None:
        if send:
            sent.append(alert)
        if fmt == "json":
            out.write(json.dumps(alert.to_document(), ensure_ascii=False) + "\n")
        else:
            out.write(alert.text_line() + "\n")

    replayer = Replayer(RuleSet(loaded.config), emit)
    errors = 0
    for _, item in read_records(events_file):
        if isinstance(item, RecordError):
            errors += 1
            err.write(f"{events_file}:{item.line}: error: {item.message}\n")
            continue
        replayer.feed(item)
    replayer.finish()
    if replayer.out_of_order:
        err.write(
            f"{events_file}: warning: {replayer.out_of_order} records went back in time; "
            "they were replayed at the time of the record before them\n"
        )
    if send and sent:
        from ..daemon.send import deliver

        undelivered = asyncio.run(deliver(loaded.config, sent))
        if undelivered:
            err.write(f"pxrules replay: {undelivered} notification(s) could not be delivered\n")
            return ExitCode.INVALID
    return ExitCode.INVALID if errors else ExitCode.OK
