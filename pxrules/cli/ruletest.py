"""``pxrules test``: rule unit tests in YAML (pxrules.engine.ruletests), as ``promtool test
rules``; docs/testing-rules.md describes the format."""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from ..errors import ExitCode
from .options import format_option


@click.command(
    "test",
    short_help="Run rule unit tests (expected alerts at given times).",
    epilog="\b\nExamples:\n  pxrules test freezer.test.yaml\n  pxrules test tests/*.test.yaml "
    "--format json\n  pxrules test freezer.test.yaml --run 'defrost*'\n\n"
    "Exit codes: 0 every test passed, 1 a test failed (a diff is printed), "
    "2 a file is unreadable or invalid.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option("text: PASS/FAIL lines and a diff per failure; json: one document.")
@click.option(
    "--run", "pattern", default=None, metavar="GLOB", help="Only tests whose name matches."
)
def test(files: tuple[Path, ...], fmt: str, pattern: str | None) -> None:
    """Run rule unit tests: readings at relative times in, the notifications expected out."""
    sys.exit(run_tests(files, fmt, sys.stdout, pattern=pattern))


def run_tests(
    files: Sequence[Path], fmt: str, out: IO[str], *, pattern: str | None = None
) -> ExitCode:
    """Run every test of ``files``; print the results; return the exit code."""
    from ..engine.ruletests import check_silences, load_rule_files, load_test_file, run_test

    report: list[dict[str, Any]] = []
    invalid = failed = passed = 0
    for path in files:
        entry: dict[str, Any] = {"file": str(path), "problems": [], "tests": []}
        report.append(entry)
        loaded = load_test_file(path)
        if isinstance(loaded, list):
            entry["problems"] = [str(p) for p in loaded]
            invalid += 1
            continue
        configs, rule_problems = load_rule_files(loaded)
        problems = [str(p) for p in rule_problems] + check_silences(loaded)
        if problems:
            entry["problems"] = problems
            invalid += 1
            continue
        for rule_test in loaded.tests:
            if pattern is not None and not fnmatch.fnmatchcase(rule_test.name, pattern):
                continue
            outcome = run_test(configs, rule_test, loaded.start)
            entry["tests"].append(outcome.to_json())
            passed += outcome.ok
            failed += not outcome.ok
    if fmt == "json":
        summary = {"passed": passed, "failed": failed, "invalid_files": invalid}
        out.write(json.dumps({"files": report, **summary}, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_text(report, out)
        out.write(
            f"{passed + failed} test{'' if passed + failed == 1 else 's'}: {passed} passed, "
            f"{failed} failed" + (f", {invalid} invalid file(s)" if invalid else "") + "\n"
        )
    if invalid:
        return ExitCode.USAGE
    return ExitCode.INVALID if failed else ExitCode.OK


def _print_text(report: list[dict[str, Any]], out: IO[str]) -> None:
    for entry in report:
        for problem in entry["problems"]:
            out.write(f"{problem}\n")
        for result in entry["tests"]:
            out.write(f"{'PASS' if result['ok'] else 'FAIL'} {entry['file']}: {result['name']}\n")
            if result["ok"]:
                continue
            if result["missing"]:
                out.write("  expected, not sent:\n")
                out.writelines(f"    + {line}\n" for line in result["missing"])
            if result["unexpected"]:
                out.write("  sent, not expected:\n")
                out.writelines(f"    - {line}\n" for line in result["unexpected"])
            for line in result["wrong_state"]:
                out.write(f"  state {line}\n")
            if result["missing"] or result["unexpected"]:
                out.write("  sent, in order:\n")
                out.writelines(f"      {line}\n" for line in result["sent"] or ["(nothing)"])
