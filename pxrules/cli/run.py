"""``pxrules run``: the alerting daemon (:class:`pxrules.daemon.service.Daemon`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from .logs import LEVELS, setup_logging


@click.command(
    short_help="Run the alerting daemon.",
    epilog="\b\nExamples:\n  pxrules run rules.yaml --http :9464\n"
    "  pxrules run rules.yaml --url http://127.0.0.1:8765 --api-key demo-key --dry-run\n\n"
    "SIGHUP reloads the rules file; SIGTERM/SIGINT stop it (deliveries get 10 s).\n\n"
    "Exit codes: 0 stopped by a signal, 1 invalid rules, 2 unreadable file or --http address "
    "in use, 3 PxServ refused the API key.",
)
@click.argument("rules_file", type=click.Path(path_type=Path))
@click.option(
    "--state",
    "state_path",
    default="pxrules-state.db",
    show_default=True,
    help="SQLite file for durable state; none keeps state in memory only (with a warning).",
)
@click.option("--url", default=None, help="PxServ URL, in place of the rules file's source.url.")
@click.option(
    "--api-key", default=None, help="Project key, in place of the rules file's source.api_key."
)
@click.option("--http", default=None, metavar="HOST:PORT", help="Serve /healthz and /metrics.")
@click.option("--dry-run", is_flag=True, help="Evaluate and log alerts; deliver nothing.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(LEVELS, case_sensitive=False),
)
@click.option(
    "--log-format", default="text", show_default=True, type=click.Choice(["text", "json"])
)
def run(
    rules_file: Path, state_path: str, url: str | None, api_key: str | None, http: str | None,
    dry_run: bool, log_level: str, log_format: str,
) -> None:  # fmt: skip
    """Run the alerting daemon."""
    from ..daemon.http import parse_listen
    from ..daemon.service import Daemon, RunOptions

    if http is not None:
        try:
            parse_listen(http)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--http") from None
    formatter = setup_logging(log_level, log_format)
    options = RunOptions(
        rules_path=rules_file, state_path=state_path, http=http, dry_run=dry_run, url=url,
        api_key=api_key,
    )  # fmt: skip
    sys.exit(asyncio.run(Daemon(options, formatter=formatter).run()))
