"""``pxrules schema``: the JSON Schema of the rules file, for editors (yaml-language-server)."""

from __future__ import annotations

import json

import click

from ..rules.schema import json_schema


@click.command()
def schema() -> None:
    """Print the JSON Schema of the rules file (for yaml-language-server)."""
    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))
