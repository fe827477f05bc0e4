"""``pxrules alerts``: the firing and pending alerts of a running daemon."""

from __future__ import annotations

import json

import click

from .options import format_option
from .remote import DaemonClient, call, daemon_options, table


@click.command(
    short_help="Firing and pending alerts of a running daemon.",
    epilog="\b\nExamples:\n  pxrules alerts\n  pxrules alerts --http 10.0.0.5:9464 --format json"
    "\n\nExit codes: 0 listed, 2 the daemon is unreachable.",
)
@format_option("text: a table; json: the API's document.")
@daemon_options
def alerts(fmt: str, http: str, http_token: str | None) -> None:
    """Firing and pending alerts of a running daemon (`run --http`), firing first."""
    found = call(lambda: DaemonClient(http, http_token).get("/api/v1/alerts"))
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    rows = [
        [
            a["state"], a["severity"], a["rule"], a["key"], a["value"], a["since"],
            f"silenced ({a['silenced_by']})" if a.get("silenced") else "",
        ]
        for a in found["alerts"]
    ]  # fmt: skip
    if not rows:
        click.echo("no alerts firing or pending")
        return
    headers = ["STATE", "SEVERITY", "RULE", "KEY", "VALUE", "SINCE", "NOTE"]
    if len({a.get("project") for a in found["alerts"]}) > 1:  # a daemon of several projects
        headers.insert(0, "PROJECT")
        rows = [[a.get("project", ""), *row] for a, row in zip(found["alerts"], rows, strict=True)]
    click.echo(table(headers, rows))
