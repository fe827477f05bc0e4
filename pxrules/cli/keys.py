"""``pxrules keys``: the keys a running daemon knows, their latest values and last update."""

from __future__ import annotations

import json

import click

from .options import format_option
from .remote import DaemonClient, call, daemon_options, table


@click.command(
    short_help="Keys of a running daemon and their latest values.",
    epilog="\b\nExamples:\n  pxrules keys\n  pxrules keys --match 'kitchen/*' --format json"
    "\n\nExit codes: 0 listed, 2 the daemon is unreachable.",
)
@format_option("text: a table; json: the API's document.")
@click.option("--match", default=None, metavar="GLOB", help="Only keys matching this glob.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 10_000))
@daemon_options
def keys(fmt: str, match: str | None, limit: int, http: str, http_token: str | None) -> None:
    """Keys of a running daemon (`run --http`): latest value, last update, watching rules."""
    client = DaemonClient(http, http_token)
    found = call(lambda: client.get("/api/v1/keys", match=match, limit=limit))
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    rows = [
        [k["key"], "(removed)" if k.get("removed") else k["value"], k["updated"],
         ", ".join(k["rules"])]
        for k in found["keys"]
    ]  # fmt: skip
    if not rows:
        click.echo("no keys")
        return
    headers = ["KEY", "VALUE", "UPDATED", "RULES"]
    if len({k.get("project") for k in found["keys"]}) > 1:  # a daemon of several projects
        headers.insert(0, "PROJECT")
        rows = [[k.get("project", ""), *row] for k, row in zip(found["keys"], rows, strict=True)]
    click.echo(table(headers, rows))
    if found["total"] > len(rows):
        click.echo(f"… {found['total'] - len(rows)} more (see --limit, --match)")
