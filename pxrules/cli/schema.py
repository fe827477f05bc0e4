"""``pxrules schema``: the JSON Schema of the rules file, for editors (yaml-language-server)."""

from __future__ import annotations

import json

import click

from ..rules.schema import json_schema


@click.command(
    short_help="Print the JSON Schema of the rules file.",
    epilog="\b\nExample (yaml-language-server in VS Code and others):\n"
    "  pxrules schema > rules.schema.json\n"
    "  # first line of rules.yaml:  # yaml-language-server: $schema=./rules.schema.json",
)
def schema() -> None:
    """Print the JSON Schema of the rules file (for yaml-language-server)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
