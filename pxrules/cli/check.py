"""``pxrules check``: validate files offline and print every problem as text or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import click

from ..errors import ExitCode
from ..rules import LoadResult, load_file
from .options import format_option


@click.command(
    short_help="Validate rules files offline.",
    epilog="\b\nExamples:\n  pxrules check rules.yaml\n  pxrules check --strict --format json "
    "*.yaml\n\nExit codes: 0 valid, 1 invalid (or warnings with --strict), 2 unreadable file.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option("text: one line per problem; json: one object for editors and CI.")
@click.option("--strict", is_flag=True, help="Warnings (and unset ${VAR}s) fail the check.")
def check(files: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Validate rules files offline; every problem at FILE:LINE:COL."""
    sys.exit(run_check(files, fmt, strict, sys.stdout))


def run_check(files: Sequence[Path], fmt: str, strict: bool, out: IO[str]) -> ExitCode:
    """Check every file; return the exit code (0 valid, 1 invalid, 2 unreadable)."""
    results = [load_file(path, strict_env=strict) for path in files]
    if fmt == "json":
        out.write(json.dumps(as_json(results), ensure_ascii=False, indent=2) + "\n")
    else:
        for result in results:
            for problem in result.problems:
                out.write(f"{problem}\n")
            out.write(result.summary() + "\n")
    if any(r.unreadable for r in results):
        return ExitCode.USAGE
    failed = any(not r.ok or (strict and r.warnings) for r in results)
    return ExitCode.INVALID if failed else ExitCode.OK


def as_json(results: Sequence[LoadResult]) -> dict[str, object]:
    """One object for all files: ``valid``, ``rules``, ``errors``, ``warnings``."""
    return {
        "valid": all(r.ok for r in results),
        "rules": sum(r.rule_count for r in results),
        "errors": [p.to_json() for r in results for p in r.errors],
        "warnings": [p.to_json() for r in results for p in r.warnings],
    }
