"""``pxrules silence add|ls|expire``: silences on a running daemon, as ``amtool silence``."""

from __future__ import annotations

import functools
import getpass
import json

import click

from ..engine.silences import SilenceError, parse_matchers
from ..errors import ExitCode
from ..rules.durations import DurationError, parse_duration
from .options import format_option
from .remote import DaemonClient, call, daemon_options, fail, table


@click.group(
    short_help="Silence alerts on a running daemon.",
    epilog="\b\nExamples:\n  pxrules silence add 'rule=freezer*' 'key=kitchen/*' --for 2h "
    "--comment defrost\n  pxrules silence ls\n  pxrules silence expire ID\n\n"
    "Exit codes: 0 done, 1 a bad matcher or duration, 2 the daemon is unreachable.",
)
def silence() -> None:
    """Silence alerts on a running daemon: a silenced alert is tracked but notifies nobody."""


@silence.command(
    "add",
    epilog="\b\nMATCHER is NAME=GLOB with NAME one of project, rule, key, severity;\n"
    "an alert is silenced when every matcher matches.\n\n"
    "Exit codes: 0 added (its id is printed), 1 a bad matcher or duration, 2 the daemon is "
    "unreachable or refused.",
)
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", required=True, metavar="DURATION", help="e.g. 30m, 2h, 1d.")
@click.option("--comment", default="", help="Why (shown with the silence).")
@click.option("--author", default=None, help="Who made it [default: the user name].")
@format_option("text: the new silence's id; json: its document.")
@daemon_options
def add(
    matchers: tuple[str, ...], duration: str, comment: str, author: str | None, fmt: str,
    http: str, http_token: str | None,
) -> None:  # fmt: skip
    """Silence the alerts that match every MATCHER, for DURATION from now."""
    try:
        parsed = parse_matchers(matchers)
        parse_duration(duration)
    except (SilenceError, DurationError) as exc:
        fail(str(exc), ExitCode.INVALID)
    body = {
        "matchers": parsed,
        "duration": duration,
        "comment": comment,
        "created_by": author if author is not None else _user(),
    }
    made = call(lambda: DaemonClient(http, http_token).post("/api/v1/silences", body))
    click.echo(json.dumps(made, ensure_ascii=False, indent=2) if fmt == "json" else made["id"])


@silence.command("ls", epilog="Exit codes: 0 listed, 2 the daemon is unreachable.")
@click.option("--all", "everything", is_flag=True, help="Expired ones too.")
@format_option("text: a table; json: the API's document.")
@daemon_options
def ls(everything: bool, fmt: str, http: str, http_token: str | None) -> None:
    """Pending and active silences (with --all, those expired in the last five days)."""
    found = call(lambda: DaemonClient(http, http_token).get("/api/v1/silences"))
    shown = [s for s in found["silences"] if everything or s.get("state") != "expired"]
    if fmt == "json":
        click.echo(json.dumps({"silences": shown}, ensure_ascii=False, indent=2))
        return
    if not shown:
        click.echo("no silences")
        return
    rows = [
        [s["id"], s.get("state"), s["starts_at"], s["ends_at"],
         " ".join(f"{k}={v}" for k, v in s["matchers"].items()), s["created_by"], s["comment"]]
        for s in shown
    ]  # fmt: skip
    click.echo(table(["ID", "STATE", "STARTS", "ENDS", "MATCHERS", "BY", "COMMENT"], rows))


@silence.command("expire", epilog="Exit codes: 0 expired, 2 unreachable, refused or unknown id.")
@click.argument("ids", nargs=-1, required=True)
@daemon_options
def expire(ids: tuple[str, ...], http: str, http_token: str | None) -> None:
    """End silences now; what they held back is sent if still true."""
    client = DaemonClient(http, http_token)
    for ident in ids:
        call(functools.partial(client.delete, f"/api/v1/silences/{ident}"))
        click.echo(f"expired {ident}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
