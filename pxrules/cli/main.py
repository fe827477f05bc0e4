"""The ``pxrules`` command line. Each command parses its arguments and calls the library."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import KeyRefusedError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pxrules")
def cli() -> None:
    """Rules and alerting for PxServ: thresholds, dead sensors, notifications."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to bind (0: any).")
@click.option("--api-key", default="demo-key", show_default=True, help="The project key to accept.")
@click.option("--demo-data/--no-demo-data", default=False, help="Generate the demo readings.")
def simulate(host: str, port: int, api_key: str, demo_data: bool) -> None:
    """Run the PxServ simulator (Socket.IO + REST) for testing rules and apps."""
    from .commands import simulate as run

    _setup_logging("warning")
    asyncio.run(run(host, port, api_key, demo_data, sys.stdout))


@cli.command()
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
@click.option("--log-level", default="warning", show_default=True)
def tail(
    rules_file: Path | None, url: str | None, api_key: str | None, record: Path | None,
    log_level: str,
) -> None:  # fmt: skip
    """Print live events as JSON lines."""
    from ..rules.load import load_file
    from ..source.client import DEFAULT_URL, PxServSource
    from .commands import tail as run_tail

    _setup_logging(log_level)
    file_url = file_key = None
    if rules_file is not None:
        loaded = load_file(rules_file)
        if not loaded.ok or loaded.config is None:
            for problem in loaded.errors:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_INVALID)
        file_url, file_key = loaded.config.source.url, loaded.config.source.api_key
        if file_key and "${" in file_key:
            file_key = None  # an unset variable, not a key
    key = api_key or file_key or os.environ.get("PXSERV_API_KEY")
    if not key:
        raise click.UsageError(
            "no API key: pass --api-key, set PXSERV_API_KEY or give a rules file"
        )
    source = PxServSource(api_key=key, url=url or file_url or DEFAULT_URL)
    try:
        asyncio.run(run_tail(source, sys.stdout, record))
    except KeyRefusedError as exc:
        click.echo(f"pxrules: {exc}", err=True)
        sys.exit(EXIT_REFUSED)


@cli.command()
@click.option("--duration", type=float, default=None, help="Stop after S seconds.")
def demo(duration: float | None) -> None:
    """Run the built-in simulator with demo rules: live readings and alerts."""
    from .demo import demo as run_demo

    sys.exit(asyncio.run(run_demo(duration, sys.stdout)))


@cli.command()
@click.argument("rules_file", type=click.Path(path_type=Path))
@click.option(
    "--state",
    "state_path",
    default="pxrules-state.db",
    show_default=True,
    help="SQLite file for durable state.",
)
@click.option("--http", default=None, metavar="HOST:PORT", help="Serve /healthz and /metrics.")
@click.option("--dry-run", is_flag=True, help="Evaluate and log alerts; deliver nothing.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
@click.option(
    "--log-format", default="text", show_default=True, type=click.Choice(["text", "json"])
)
def run(
    rules_file: Path, state_path: str, http: str | None, dry_run: bool, log_level: str,
    log_format: str,
) -> None:  # fmt: skip
    """Run the alerting daemon."""
    from ..daemon.redaction import configure
    from ..daemon.service import Daemon, RunOptions, parse_listen

    if http is not None:
        try:
            parse_listen(http)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--http") from None
    formatter = configure(log_level, log_format)
    options = RunOptions(rules_path=rules_file, state_path=state_path, http=http, dry_run=dry_run)
    sys.exit(asyncio.run(Daemon(options, formatter=formatter).run()))


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--strict", is_flag=True, help="Warnings (and unset ${VAR}s) fail the check.")
def check(files: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Validate rules files offline; every problem at FILE:LINE:COL."""
    from .check import run_check

    sys.exit(run_check(files, fmt, strict, sys.stdout))


@cli.command()
@click.argument("rules_file", type=click.Path(path_type=Path))
@click.argument("events_file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--send", is_flag=True, help="Deliver the alerts through the notifiers.")
def replay(rules_file: Path, events_file: Path, fmt: str, send: bool) -> None:
    """Back-test rules on recorded events in virtual time; print alert transitions."""
    from .replay import run_replay

    sys.exit(run_replay(rules_file, events_file, fmt, send, sys.stdout, sys.stderr))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the rules file (for yaml-language-server)."""
    import json

    from ..rules.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def main() -> None:
    cli(prog_name="pxrules")
