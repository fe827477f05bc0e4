"""``pxrules run``: the alerting daemon (:class:`pxrules.daemon.service.Daemon`)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import click

from ..events import MAX_KEYS
from .logs import LEVELS, setup_logging
from .loops import loop_option, run_on


@click.command(
    short_help="Run the alerting daemon.",
    epilog="\b\nExamples:\n  pxrules run rules.yaml --http :9464\n"
    "  pxrules run greenhouse.yaml cellar.yaml      (two projects)\n"
    "  pxrules run projects/                        (every *.yaml in it)\n"
    "  pxrules run rules.yaml --url http://127.0.0.1:8765 --api-key demo-key --dry-run\n\n"
    "Each rules file is one project (its project: name, or the file's name).\n"
    "SIGHUP reloads each rules file (and rescans directories); SIGTERM/SIGINT stop it "
    "(deliveries get --grace seconds).\n\n"
    "Exit codes: 0 stopped by a signal, 1 invalid rules, 2 unreadable file or --http address "
    "in use, 3 PxServ refused the API key.",
)
@click.argument("rules_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--state",
    "state_path",
    envvar="PXRULES_STATE",
    default="pxrules-state.db",
    show_default=True,
    help="Durable state, one for every project: a SQLite file, or postgresql://… (needs "
    "pxrules[postgresql]); none keeps state in memory only (with a warning) "
    "[env: PXRULES_STATE].",
)
@click.option("--url", default=None, help="PxServ URL, in place of the rules file's source.url.")
@click.option(
    "--api-key", default=None, help="Project key, in place of the rules file's source.api_key."
)
@click.option(
    "--http",
    default=None,
    metavar="HOST:PORT",
    help="Serve the status page, the JSON API (/api/v1), /healthz and /metrics.",
)
@click.option(
    "--http-token",
    envvar="PXRULES_HTTP_TOKEN",
    default=None,
    metavar="TOKEN",
    help="Bearer token the API's writes (silences, reload) need [env: PXRULES_HTTP_TOKEN]; "
    "without one, writes are served on a loopback address only.",
)
@click.option("--dry-run", is_flag=True, help="Evaluate and log alerts; deliver nothing.")
@click.option(
    "--max-keys",
    default=MAX_KEYS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Latest values kept in memory; past it the least recently written keys are forgotten.",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds queued deliveries get on SIGTERM/SIGINT; the rest stay in the state file.",
)
@click.option(
    "--lease-ttl",
    envvar="PXRULES_LEASE_TTL",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="With --state postgresql://…: seconds a project's lease lasts unrenewed; a daemon that "
    "dies has its projects taken over by the others after it [env: PXRULES_LEASE_TTL].",
)
@loop_option
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
    rules_files: tuple[Path, ...], state_path: str, url: str | None, api_key: str | None,
    http: str | None, http_token: str | None, dry_run: bool, max_keys: int, grace: float,
    lease_ttl: float, loop: str, log_level: str, log_format: str,
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
        rules_path=rules_files[0], more_rules=rules_files[1:], state_path=state_path, http=http,
        http_token=http_token, dry_run=dry_run, url=url,
        api_key=api_key, grace=grace, max_keys=max_keys, lease_ttl=lease_ttl,
    )  # fmt: skip
    code = run_on(loop, Daemon(options, formatter=formatter).run)
    _exit(code)


def _exit(code: int) -> None:
    """Exit once the daemon has stopped. A notifier attempt cancelled at the end of the grace
    period may still run in a library's thread (Apprise sends from its own thread pool, which
    the interpreter would wait for at exit, past the grace): everything of ours is closed and
    written by now, so such threads are not waited for."""
    busy = [t for t in threading.enumerate() if t.is_alive() and not t.daemon]
    busy = [t for t in busy if t is not threading.main_thread()]
    if busy:
        logging.getLogger("pxrules.daemon").info(
            "exiting without waiting for %d notifier thread(s) still sending", len(busy)
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
