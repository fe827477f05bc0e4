"""The ``pxrules`` group: one module per command, each parsing its arguments and calling the
library. Command modules import heavy parts (the socket client, the daemon) only when their
command runs, so ``pxrules check`` loads no socket or notifier code."""

from __future__ import annotations

import click

from .. import __version__
from .check import check
from .demo import demo
from .replay import replay
from .run import run
from .schema import schema
from .simulate import simulate
from .tail import tail


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pxrules")
def cli() -> None:
    """Rules and alerting for PxServ: thresholds, dead sensors, notifications."""


for command in (check, run, replay, tail, schema, demo, simulate):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pxrules")
