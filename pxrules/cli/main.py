"""The ``pxrules`` group: one module per command, each parsing its arguments and calling the
library. Command modules import heavy parts (the socket client, the daemon) only when their
command runs, so ``pxrules check`` loads no socket or notifier code."""

from __future__ import annotations

import click

from .. import __version__
from .alerts import alerts
from .check import check
from .demo import demo
from .fleet import fleet
from .keys import keys
from .replay import replay
from .ruletest import test
from .run import run
from .schema import schema
from .silence import silence
from .simulate import simulate
from .tail import tail

EPILOG = """\b
Start here:
  pxrules demo                      the simulator, demo rules and live alerts
  pxrules check rules.yaml          every problem at FILE:LINE:COL
  pxrules test rules.test.yaml      rule unit tests: readings in, expected alerts out
  pxrules run rules.yaml            the alerting daemon
  pxrules alerts | keys | silence   look at and steer a running daemon (run --http)
  pxrules fleet status              daemons sharing projects on PostgreSQL

\b
Shell completion (bash; zsh and fish likewise with zsh_source / fish_source):
  eval "$(_PXRULES_COMPLETE=bash_source pxrules)"

Docs: docs/reference.md (commands, exit codes), docs/rules.md (the rules file)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="pxrules")
def cli() -> None:
    """Rules and alerting for PxServ: thresholds, dead sensors, notifications."""


for command in (check, run, replay, test, tail, alerts, keys, silence, fleet, schema, demo,
                simulate):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pxrules")
