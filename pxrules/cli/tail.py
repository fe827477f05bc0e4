"""``pxrules tail``: live events as JSON lines in the replay format (and appended to a file)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from ..errors import ExitCode, KeyRefusedError
from ..events import DEFAULT_URL, Event
from ..rules import load_file
from .logs import LEVELS, setup_logging

if TYPE_CHECKING:
    from ..source import PxServSource


@click.command(
    short_help="Print live events (in the replay format).",
    epilog="\b\nExamples:\n  pxrules tail rules.yaml                 # url and key from the file"
    "\n  pxrules tail --url http://127.0.0.1:8765 --api-key demo-key > ev.jsonl\n\n"
    "Exit codes: 0 stopped by Ctrl-C, 1 invalid rules file, 2 no API key, 3 key refused.",
)
@click.argument("rules_file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--url", default=None, help="PxServ URL (default: the rules file's, or api.pxserv.net)."
)
@click.option(
    "--api-key", default=None, help="Project key (default: the rules file's, or $PXSERV_API_KEY)."
)
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also append events to FILE in the replay format.",
)
@click.option("--log-level", default="warning", show_default=True, type=click.Choice(LEVELS))
def tail(
    rules_file: Path | None, url: str | None, api_key: str | None, record: Path | None,
    log_level: str,
) -> None:  # fmt: skip
    """Print live events as JSON lines."""
    from ..source import PxServSource

    setup_logging(log_level)
    file_url = file_key = None
    if rules_file is not None:
        loaded = load_file(rules_file)
        if not loaded.ok or loaded.config is None:
            for problem in loaded.errors:
                click.echo(str(problem), err=True)
            sys.exit(ExitCode.INVALID)
        file_url, file_key = loaded.config.source.url, loaded.config.source.api_key
        if file_key and "${" in file_key:
            file_key = None  # an unset variable, not a key
    key = api_key or file_key or os.environ.get("PXSERV_API_KEY")
    origin = (
        "--api-key" if api_key else f"source.api_key in {rules_file}" if file_key
        else "$PXSERV_API_KEY"
    )  # fmt: skip
    if not key:
        raise click.UsageError(
            "no API key: pass --api-key, set PXSERV_API_KEY or give a rules file"
        )
    source = PxServSource(api_key=key, url=url or file_url or DEFAULT_URL)
    try:
        asyncio.run(follow(source, sys.stdout, record))
    except KeyRefusedError as exc:
        click.echo(f"pxrules: PxServ refused the API key (from {origin}): {exc.reason}", err=True)
        sys.exit(ExitCode.REFUSED)


def event_line(event: Event) -> str:
    """One line of ``tail``: the replay record of the event (so the output replays as it is),
    with its ``origin`` (live or snapshot) beside it."""
    return json.dumps({**event.to_record(), "origin": event.origin}, ensure_ascii=False)


async def follow(source: PxServSource, out: IO[str], record: Path | None) -> None:
    """Print live events as JSON lines until stopped; append them to ``record`` if given."""
    from ..daemon.signals import stop_on_signals
    from ..source import ConnectionStatus

    stop = asyncio.Event()
    sink = record.open("a", encoding="utf-8") if record else None

    def on_event(event: Event) -> None:
        line = event_line(event) + "\n"
        out.write(line)
        out.flush()
        if sink is not None:
            sink.write(line)
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
