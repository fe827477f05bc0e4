"""The command line's help: whole descriptions, examples and exit codes, no free-text levels."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pxrules.cli import cli

COMMANDS = [
    "check", "run", "replay", "test", "tail", "alerts", "keys", "silence", "fleet", "schema",
    "demo", "simulate",
]  # fmt: skip


def help_of(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_command_list_is_not_cut_mid_sentence() -> None:
    listing = help_of().split("Commands:", 1)[1].split("\n\n", 1)[0]
    assert "..." not in listing
    assert {line.split()[0] for line in listing.strip().splitlines()} == set(COMMANDS)


def test_the_top_level_help_says_how_to_start_and_how_to_complete() -> None:
    text = help_of()
    assert "pxrules demo" in text and "_PXRULES_COMPLETE=bash_source pxrules" in text


@pytest.mark.parametrize(
    "command", ["check", "run", "replay", "test", "tail", "alerts", "keys", "silence"]
)
def test_commands_that_can_fail_show_examples_and_exit_codes(command: str) -> None:
    text = help_of(command)
    assert "Exit codes: 0" in text
    assert f"pxrules {command} " in text.split("Example", 1)[1]


@pytest.mark.parametrize("command", ["check", "replay", "test", "alerts", "keys"])
def test_format_is_explained(command: str) -> None:
    line = next(ln for ln in help_of(command).splitlines() if "--format" in ln)
    assert "[text|json]" in line and "text:" in line


def test_tail_log_level_is_a_choice_like_runs() -> None:
    assert "--log-level [debug|info|warning|error]" in help_of("tail")
    assert "--log-level [debug|info|warning|error]" in help_of("run")
    result = CliRunner().invoke(cli, ["tail", "--log-level", "loud", "--api-key", "k"])
    assert result.exit_code == 2 and "'loud' is not one of" in result.output


def test_simulate_shows_its_defaults() -> None:
    text = " ".join(help_of("simulate").split())
    assert "Generate the demo readings. [default: no-demo-data]" in text
