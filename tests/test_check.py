"""`pxrules check`: every invalid fixture gives exactly its expected problems."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from pxrules.cli.main import cli
from pxrules.rules import load_file, load_text
from pxrules.rules.schema import json_schema

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "invalid"
EXAMPLE = ROOT / "rules.example.yaml"

# file → exact errors as (line:col, location, a fragment of the message)
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "a-directory.yaml": [("1:1", "(root)", "is a directory")],
    "alias-bomb.yaml": [("1:4", "(root)", "alias bomb")],
    "bad-apprise-url.yaml": [("3:14", "notifiers.phone.apprise", "scheme notaservice://")],
    "bad-duration.yaml": [("5:10", "rules[0].for", "invalid duration '2 minutes'")],
    "bad-regex.yaml": [("4:21", "rules[0].when.matches", "invalid regular expression")],
    "bad-severity.yaml": [("5:15", "rules[0].severity", "did you mean 'critical'?")],
    "binary-garbage.yaml": [("1:1", "(root)", "not UTF-8 text (byte 0x89)")],
    "changed-in-clear.yaml": [("5:12", "rules[0].clear", "'changed' cannot be used in clear")],
    "duplicate-names.yaml": [("5:11", "rules[1].name", "duplicate rule name 'hum'")],
    "duplicate-yaml-keys.yaml": [("5:5", "rules[0].key", "duplicate key 'key' (first at line 3)")],
    "empty.yaml": [("1:1", "(root)", "the file is empty")],
    "equals-boolean.yaml": [("4:20", "rules[0].when.equals", 'write "true"/"false" in quotes')],
    "event-rule-with-for.yaml": [
        ("5:5", "rules[0].for", "'for' does not apply to an event rule"),
        ("6:5", "rules[0].resolve", "'resolve' does not apply to an event rule"),
    ],
    "key-and-keys.yaml": [("2:5", "rules[0]", "exactly one of key or keys")],
    "latin1.yaml": [("2:14", "(root)", "not UTF-8 text (byte 0xe9)")],
    "many-errors.yaml": [
        ("4:12", "rules[0].when.abvoe", "unknown field 'abvoe' (did you mean 'above'?)"),
        ("5:14", "rules[0].notify[0]", "unknown notifier 'nobody'"),
        ("6:11", "rules[1].name", "duplicate rule name 'a'"),
        ("9:15", "rules[1].debounce", "invalid duration 'soon'"),
    ],
    "missing-when.yaml": [("2:5", "rules[0]", "missing required field 'when'")],
    "negative-duration.yaml": [("5:15", "rules[0].cooldown", "duration must be positive")],
    "notifier-two-kinds.yaml": [("3:5", "notifiers.both", "exactly one of apprise, webhook")],
    "syntax-error.yaml": [("5:1", "(root)", "YAML syntax error")],
    "template-sandbox-escape.yaml": [("5:12", "rules[0].title", "refused by the sandbox")],
    "template-syntax.yaml": [("5:12", "rules[0].title", "template syntax error")],
    "top-level-list.yaml": [("1:1", "(root)", "must be a mapping")],
    "type-error-above.yaml": [("4:19", "rules[0].when.above", "valid number")],
    "undefined-template-name.yaml": [("5:14", "rules[0].message", "'valeu' is undefined")],
    "unknown-field-typo.yaml": [("5:7", "rules[0].when.abvoe", "did you mean 'above'?")],
    "unknown-notifier.yaml": [("8:14", "rules[0].notify[0]", "did you mean 'phone'?")],
    "unknown-rule-field.yaml": [("5:5", "rules[0].cooldwon", "did you mean 'cooldown'?")],
    "unknown-top-level.yaml": [
        ("1:1", "(root)", "missing required field 'rules'"),
        ("1:1", "rule", "unknown field 'rule' (did you mean 'rules'?)"),
    ],
    "unsafe-tag.yaml": [("2:11", "rules[0].name", "tag !!python/object/apply:os.system")],
    "webhook-not-http.yaml": [("4:12", "notifiers.hook.webhook.url", "http:// or https://")],
    "yaml11-booleans.yaml": [
        ("4:20", "rules[0].when.equals", "YAML 1.1 reads 'on' as the boolean True; quote it"),
        ("7:17", "rules[1].when.in[0]", "YAML 1.1 reads 'yes'"),
    ],
    "yaml11-octal.yaml": [("4:20", "rules[0].when.equals", "YAML 1.1 reads '017' as 15")],
    "yaml11-sexagesimal.yaml": [("5:10", "rules[0].for", "YAML 1.1 reads '1:30' as 90")],
}


def test_every_fixture_has_expectations() -> None:
    on_disk = sorted(p.name for p in FIXTURES.iterdir())
    assert on_disk == sorted(EXPECTED)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_exactly_its_errors(name: str) -> None:
    result = load_file(FIXTURES / name, env={})
    got = [(f"{p.line}:{p.column}", p.location, p.message) for p in result.errors]
    expected = EXPECTED[name]
    assert [(pos, loc) for pos, loc, _ in got] == [(pos, loc) for pos, loc, _ in expected], got
    for (_, _, message), (_, _, fragment) in zip(got, expected, strict=True):
        assert fragment in message
    assert not result.ok and result.config is None


def run_cli(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env or {})
    return result.exit_code, result.output


def test_example_is_valid() -> None:
    code, out = run_cli("check", str(EXAMPLE), env={"PXSERV_API_KEY": "k"})
    assert code == 0, out
    assert out.strip().endswith(
        "rules.example.yaml: 5 rules, notifiers log, phone, ops-hook, fan-on, OK"
    )


def test_unset_variable_is_warning_but_strict_fails() -> None:
    env: dict[str, str | None] = {"PXSERV_API_KEY": None}  # None: unset for the run
    code, out = run_cli("check", str(EXAMPLE), env=env)
    assert code == 0
    assert "warning: source.api_key: environment variable PXSERV_API_KEY is not set" in out
    code, out = run_cli("check", "--strict", str(EXAMPLE), env=env)
    assert code == 1
    assert "error: source.api_key: environment variable PXSERV_API_KEY is not set" in out


def test_exit_codes() -> None:
    assert run_cli("check", str(FIXTURES / "bad-regex.yaml"))[0] == 1
    assert run_cli("check", str(FIXTURES / "a-directory.yaml"))[0] == 2
    assert run_cli("check", "/nonexistent/rules.yaml")[0] == 2
    assert run_cli("check")[0] == 2  # usage


def test_json_matches_text() -> None:
    files = [str(FIXTURES / "many-errors.yaml"), str(FIXTURES / "unknown-notifier.yaml")]
    _, text = run_cli("check", *files)
    code, out = run_cli("check", "--format", "json", *files)
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False and report["rules"] == 3
    lines = [line for line in text.splitlines() if ": error: " in line or ": warning: " in line]
    from_json = [
        f"{p['path']}:{p['line']}:{p['column']}: {sev}: {p['location']}: {p['message']}"
        for sev, group in (("error", report["errors"]), ("warning", report["warnings"]))
        for p in group
    ]
    assert sorted(from_json) == sorted(lines)
    assert len(report["errors"]) == 5 and len(report["warnings"]) == 1


def test_json_of_valid_file() -> None:
    code, out = run_cli("check", "--format", "json", str(EXAMPLE), env={"PXSERV_API_KEY": "k"})
    assert code == 0
    assert json.loads(out) == {"valid": True, "rules": 5, "errors": [], "warnings": []}


def test_schema_validates_example_and_rejects_typo() -> None:
    code, out = run_cli("schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    jsonschema.validate(example, schema)
    example["rules"][0]["when"] = {"abvoe": 70}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, schema)


def test_schema_has_descriptions_everywhere() -> None:
    def walk(node: Any, path: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if "description" not in prop:
                    missing.append(f"{path}.{name}")
            for key, value in node.items():
                missing += walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                missing += walk(value, f"{path}[{i}]")
        return missing

    assert walk(json_schema(), "$") == []


def test_committed_schema_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "rules.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run: pxrules schema > docs/rules.schema.json"


def test_check_never_opens_a_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def guard(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"check tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket.socket, "connect_ex", guard)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or [])
    code, out = run_cli("check", str(EXAMPLE), str(FIXTURES / "bad-apprise-url.yaml"))
    assert code == 1, out
    assert attempts == []


def test_secrets_in_apprise_urls_are_not_echoed() -> None:
    text = (
        "notifiers:\n  p:\n    apprise: nosuchsvc://SECRET-TOKEN-42@host\n"
        "rules:\n  - {name: a, key: k, when: {above: 1}, notify: [p]}\n"
    )
    result = load_text(text, "r.yaml", env={})
    assert len(result.errors) == 1
    assert "SECRET-TOKEN-42" not in str(result.errors[0])


def test_file_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (6 * 1024 * 1024) + b"\n")
    result = load_file(big)
    assert [p.message for p in result.errors] == ["the file is larger than 5 MiB"]


def test_python_dash_m_runs_check() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pxrules", "check", str(FIXTURES / "empty.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "empty.yaml:1:1: error: (root): the file is empty" in proc.stdout


def test_check_does_not_import_socket_or_notifier_code() -> None:
    code = (
        "import sys; from pxrules.cli.main import main; sys.argv=['pxrules','check','"
        + str(EXAMPLE)
        + "']\ntry:\n    main()\nexcept SystemExit as exc:\n    print('EXIT', exc.code)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('socketio','engineio','aiohttp')]\n"
        "print('IMPORTED', bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "IMPORTED []" in proc.stdout, proc.stdout + proc.stderr
    assert "EXIT 0" in proc.stdout and "OK" in proc.stdout, proc.stdout  # it did check the file
