"""`pxrules test`: the series notation, diffs of failing tests, state checks, silences, every
problem of an invalid file at its line, exit codes, JSON; and every cookbook recipe's tests."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pxrules.cli import cli
from pxrules.cli.ruletest import run_tests
from pxrules.engine.ruletests import REMOVED, expand_series
from pxrules.errors import ExitCode

DOCS = Path(__file__).resolve().parent.parent / "docs"
COOKBOOK = sorted((DOCS / "cookbook").glob("*.test.yaml"))
RULES = """
source: {api_key: "${PXSERV_API_KEY}"}
rules:
  - {name: humid, key: humidity, when: {above: 70}, for: 2m, resolve: true}
"""


def write(tmp_path: Path, test_text: str, rules: str = RULES) -> Path:
    (tmp_path / "rules.yaml").write_text(rules, encoding="utf-8")
    path = tmp_path / "rules.test.yaml"
    path.write_text(test_text, encoding="utf-8")
    return path


def run(*paths: Path, fmt: str = "text") -> tuple[ExitCode, str]:
    out = io.StringIO()
    code = run_tests(paths, fmt, out)
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("60 75x2 60", ["60", "75", "75", "75", "60"]),
        ("1+2x3", ["1", "3", "5", "7"]),
        ("10-2.5x2", ["10", "7.5", "5"]),
        ("0.1+0.2x2", ["0.1", "0.3", "0.5"]),
        ("_ 1 _x1 2", [None, "1", None, None, "2"]),
        ("open closed removed", ["open", "closed", REMOVED]),
        ("", []),
    ],
)
def test_the_series_notation(text: str, steps: list[object]) -> None:
    assert expand_series(text) == steps


def test_a_passing_file_exits_0(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yaml]
tests:
  - name: fires after two minutes
    input_series: {humidity: "60 75x3 60"}
    expected_alerts:
      - {at: 3m, state: firing, rule: humid, key: humidity, value: "75"}
      - {at: 5m, state: resolved, rule: humid, key: humidity, value: "60"}
""",
    )
    code, out = run(path)
    assert code == ExitCode.OK, out
    assert out.splitlines() == [
        f"PASS {path}: fires after two minutes",
        "1 test: 1 passed, 0 failed",
    ]


def test_a_failing_test_prints_what_is_missing_and_what_was_not_expected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yaml]
tests:
  - name: wrong time
    input_series: {humidity: "60 75x3 60"}
    expected_alerts:
      - {at: 2m, state: firing, rule: humid, key: humidity, value: "75"}
      - {at: 5m, state: resolved, rule: humid, key: humidity}
    expected_state:
      - {at: 4m, firing: [], pending: [{rule: humid, key: humidity}]}
""",
    )
    code, out = run(path)
    assert code == ExitCode.INVALID
    assert out.splitlines() == [
        f"FAIL {path}: wrong time",
        "  expected, not sent:",
        "    + 2m firing humid humidity=75",
        "  sent, not expected:",
        "    - 3m firing humid humidity=75",
        "  state at 4m firing: humid humidity (expected none)",
        "  state at 4m pending: none (expected humid humidity)",
        "  sent, in order:",
        "      3m firing humid humidity=75",
        "      5m resolved humid humidity=60",
        "1 test: 0 passed, 1 failed",
    ]


def test_optional_fields_are_compared_when_given(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yaml]
tests:
  - name: wrong title
    input_series: {humidity: "75x3"}
    until: 3m
    expected_alerts:
      - {at: 2m, state: firing, rule: humid, key: humidity, severity: warning, title: "nope"}
""",
    )
    code, out = run(path)
    assert code == ExitCode.INVALID
    assert "    + 2m firing humid humidity severity='warning' title='nope'" in out


def test_silences_and_removals_in_a_test(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yaml]
start: 2025-06-01T00:00:00Z
tests:
  - name: silenced until 10m, then removed
    input_series: {humidity: "75x11 removed"}
    events: [{at: 30s, key: other, value: "1"}]
    silences: [{matchers: {rule: hum*}, starts_at: 0, ends_at: 10m}]
    expected_alerts:
      - {at: 10m, state: firing, rule: humid, key: humidity}
""",
    )
    code, out = run(path, fmt="json")
    report = json.loads(out)
    assert code == ExitCode.OK, out
    assert report["files"][0]["tests"][0]["sent"] == ["10m firing humid humidity=75"]
    assert (report["passed"], report["failed"], report["invalid_files"]) == (1, 0, 0)


def test_an_invalid_test_file_gets_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """rule_files: [rules.yaml]
tests:
  - name: typos
    input_serie: {humidity: "1"}
    expected_alerts:
      - {at: soon, state: fired, rule: humid, key: humidity}
    expected_state:
      - {at: 1m, firing: [{rule: humid}]}
""",
    )
    code, out = run(path)
    assert code == ExitCode.USAGE
    problems = [line for line in out.splitlines() if ": error: " in line]
    where = [re.match(r".*?:(\d+):(\d+): error: ([^:]+)", p).groups() for p in problems]  # type: ignore[union-attr]
    assert ("4", "5", "tests.[0].input_serie") in where
    assert ("6", "14", "tests.[0].expected_alerts.[0].at") in where
    assert ("6", "27", "tests.[0].expected_alerts.[0].state") in where
    assert any("state: firing, resolved or flapping" in p for p in problems)
    assert any("did you mean 'input_series'?" in p for p in problems)
    assert any("each entry is {rule: NAME, key: KEY}" in p for p in problems)


def test_an_invalid_rules_file_or_silence_is_exit_2(tmp_path: Path) -> None:
    bad_rules = write(tmp_path, "rule_files: [rules.yaml]\ntests: [{expected_alerts: []}]\n",
                      rules="rules: [{name: x, key: k, when: {abov: 1}}]\n")  # fmt: skip
    code, out = run(bad_rules)
    assert code == ExitCode.USAGE and "rules.yaml:1:" in out and "abov" in out
    bad_silence = write(
        tmp_path,
        """
rule_files: [rules.yaml]
tests: [{expected_alerts: [], silences: [{matchers: {colour: red}, duration: 1h}]}]
""",
    )
    code, out = run(bad_silence)
    assert code == ExitCode.USAGE and "project, rule, key, severity" in out
    code, out = run(tmp_path / "missing.yaml")
    assert code == ExitCode.USAGE and "cannot read the file" in out


def test_the_command_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rule_files: [rules.yaml]
tests:
  - {name: quiet, input_series: {humidity: "60 61"}, expected_alerts: []}
  - {name: loud, input_series: {humidity: "75x2"}, expected_alerts: []}
""",
    )
    result = CliRunner().invoke(cli, ["test", str(path), "--run", "qu*"])
    assert result.exit_code == 0 and "1 test: 1 passed, 0 failed" in result.output
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert (
        result.exit_code == 1 and "FAIL" in result.output and "- 2m firing humid" in result.output
    )


def test_every_cookbook_recipe_has_a_test_file_and_passes_it() -> None:
    recipes = sorted((DOCS / "cookbook").glob("[0-9]*.yaml"))
    rules = [p for p in recipes if not p.name.endswith(".test.yaml")]
    assert len(rules) == 13 and len(COOKBOOK) == 13
    assert [p.name.removesuffix(".test.yaml") for p in COOKBOOK] == [p.stem for p in rules]
    code, out = run(*COOKBOOK)
    assert code == ExitCode.OK, out
    assert out.splitlines()[-1].endswith(" passed, 0 failed")


def test_the_cookbook_shows_each_recipe_file_as_it_is() -> None:
    text = (DOCS / "cookbook.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    files = sorted(p for p in (DOCS / "cookbook").glob("[0-9]*.yaml") if ".test." not in p.name)
    assert [b for b in blocks[: len(files)]] == [p.read_text(encoding="utf-8") for p in files]


def test_the_example_in_testing_rules_md_passes(tmp_path: Path) -> None:
    text = (DOCS / "testing-rules.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(# (\S+)\n.*?)```", text, re.DOTALL)
    files = {name: body for body, name in blocks}
    assert set(files) == {"freezer.yaml", "freezer.test.yaml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    code, out = run(tmp_path / "freezer.test.yaml")
    assert code == ExitCode.OK, out
