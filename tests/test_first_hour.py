"""What a newcomer meets first: --url/--api-key on run, one clear message for a refused key,
exit codes for unreadable files, replay's summary and progress bar."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

from click.testing import CliRunner

from pxrules.cli import cli
from pxrules.cli.replay import ProgressBar, run_replay
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY
from .daemon_proc import DaemonProc

NO_SOURCE = "rules: [{name: humid, key: humidity, when: {above: 70}}]\n"


def record(key: str, value: str, second: int) -> str:
    data = json.dumps({"key": key, "value": value})
    return f'{{"event": "setData", "data": {data}, "at": "2025-01-01T00:00:{second:02d}Z"}}\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_run_takes_url_and_api_key_from_the_command_line(
    sim: Simulator, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    daemon = DaemonProc(rules, tmp_path / "s.db", "--url", sim.url, "--api-key", API_KEY, env={})
    daemon.env.pop("PXSERV_API_KEY", None)
    await daemon.start()
    await sim.set("humidity", "75")
    await daemon.wait_log(lambda m: m.startswith("FIRING humid"))
    assert await daemon.stop() == 0
    assert API_KEY not in "\n".join(daemon.raw)


async def test_the_options_replace_the_files_source_and_its_unset_variables(
    sim: Simulator, tmp_path: Path
) -> None:
    text = "source: {url: 'http://127.0.0.1:9', api_key: '${NOT_SET_ANYWHERE}'}\n" + NO_SOURCE
    rules = write(tmp_path / "rules.yaml", text)
    daemon = DaemonProc(rules, tmp_path / "s.db", "--url", sim.url, "--api-key", API_KEY)
    await daemon.start()
    assert await daemon.stop() == 0


async def test_a_refused_key_is_said_once_with_where_it_came_from(
    sim: Simulator, tmp_path: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    daemon = DaemonProc(rules, tmp_path / "s.db", "--url", sim.url, "--api-key", "wrong-key-1")
    await daemon.start(wait_connected=False)
    assert await daemon.wait_exit() == 3
    refusals = [m for m in daemon.messages() if "Invalid API key." in m]
    assert refusals == ["PxServ refused the API key (from --api-key): Invalid API key."]


async def test_run_with_a_missing_rules_file_is_a_usage_error(tmp_path: Path) -> None:
    daemon = DaemonProc(tmp_path / "nope.yaml", tmp_path / "s.db")
    await daemon.start(wait_connected=False)
    assert await daemon.wait_exit() == 2
    assert any("cannot read: No such file or directory" in m for m in daemon.messages())


def test_replay_with_a_missing_events_file_says_why_and_exits_2(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(rules, tmp_path / "missing.jsonl", "text", False, out, err)
    assert code == 2
    assert err.getvalue() == (
        f"{tmp_path / 'missing.jsonl'}: cannot read the events file: No such file or directory\n"
    )


def test_replay_with_a_missing_rules_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(tmp_path / "no.yaml"), str(tmp_path / "e")])
    assert result.exit_code == 2
    assert "cannot read: No such file or directory" in result.stderr


def test_replay_ends_with_a_summary(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    events = write(
        tmp_path / "ev.jsonl",
        record("humidity", "75", 0) + "not json\n" + record("humidity", "76", 1),
    )
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(rules, events, "text", False, out, err) == 1
    assert err.getvalue().splitlines()[-1] == (
        f"{events}: 2 events replayed, 1 lines skipped, 1 alerts"
    )
    assert out.getvalue() == "2025-01-01T00:00:00.000Z firing humid humidity=75\n"


def test_the_progress_bar_draws_share_and_rate_at_most_twice_a_second() -> None:
    stream = io.StringIO()
    ticks = itertools.chain([0.0, 0.2, 1.0, 1.2], itertools.repeat(2.0))
    bar = ProgressBar(stream, total=1000, clock=lambda: next(ticks))
    bar.update(4096, 100)  # at 0.2 s: too soon, nothing drawn
    assert stream.getvalue() == ""
    bar.update(8192, 500)  # at 1.0 s: 8,192 lines in 1 s
    assert stream.getvalue() == f"\r[{'#' * 15}{'.' * 15}]  50%  8,192 events/s"
    bar.update(12288, 600)  # at 1.2 s: too soon again
    assert stream.getvalue().count("\r") == 1
    bar.done()
    assert stream.getvalue().endswith("\r" + " " * 60 + "\r")


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    events = write(tmp_path / "ev.jsonl", "".join(record("k", "1", 0) for _ in range(10_000)))
    err = io.StringIO()
    assert run_replay(rules, events, "text", False, io.StringIO(), err) == 0
    assert "\r" not in err.getvalue()


def check_lines(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path / "r.yaml", text)
    result = CliRunner().invoke(cli, ["check", str(path)])
    return [line.removeprefix(f"{path}:") for line in result.stdout.splitlines()]


def test_a_tab_in_yaml_says_tabs(tmp_path: Path) -> None:
    lines = check_lines(tmp_path, "rules:\n\t- name: a\n")
    assert lines[0] == (
        "2:1: error: (root): YAML syntax error: a tab character: YAML is indented with spaces, "
        "never tabs"
    )


def test_a_condition_or_list_in_the_wrong_form_shows_the_right_one(tmp_path: Path) -> None:
    text = (
        "rules:\n  - name: a\n    key: k\n    when: above 70\n    notify: phone\n"
        "    where: {door: open}\n"
    )
    assert check_lines(tmp_path, text)[:3] == [
        "4:11: error: rules[0].when: when is a mapping of conditions, e.g. `when: {above: 70}` "
        "(got 'above 70')",
        "5:13: error: rules[0].notify: notify is a list, e.g. `notify: [phone, ops-hook]` "
        "(got 'phone')",
        "6:19: error: rules[0].where.door: a key under where takes a mapping of conditions, "
        "e.g. `door: {equals: closed}` (got 'open')",
    ]


def test_check_names_the_notifiers_as_run_does(tmp_path: Path) -> None:
    lines = check_lines(tmp_path, "rules: [{name: a, key: k, when: {above: 1}}]\n")
    assert lines == [" 1 rule, notifiers log, OK"]


async def test_cannot_connect_before_the_first_connection_gives_a_hint(tmp_path: Path) -> None:
    import socket

    with socket.socket() as bound:  # bound, not listening: every connect is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        rules = write(tmp_path / "rules.yaml", NO_SOURCE)
        daemon = DaemonProc(rules, tmp_path / "s.db", "--url", url, "--api-key", API_KEY)
        await daemon.start(wait_connected=False)
        line = await daemon.wait_log(lambda m: m.startswith("cannot connect to "))
        assert await daemon.stop() == 0
    assert line.startswith(f"cannot connect to {url}: ")
    assert line.endswith("(is the URL right, is PxServ reachable?)")


def test_replay_send_takes_url_and_api_key_in_place_of_the_files(tmp_path: Path) -> None:
    """With --send, unset variables are errors — unless the command line gives the value."""
    rules = write(tmp_path / "rules.yaml", "source: {api_key: '${NOT_SET_ANYWHERE}'}\n" + NO_SOURCE)
    events = write(tmp_path / "ev.jsonl", record("humidity", "75", 0))
    without = CliRunner().invoke(cli, ["replay", str(rules), str(events), "--send"])
    assert without.exit_code == 1
    assert "environment variable NOT_SET_ANYWHERE is not set" in without.stderr
    given = CliRunner().invoke(
        cli, ["replay", str(rules), str(events), "--send", "--api-key", "k", "--url", "http://x"]
    )
    assert given.exit_code == 0, given.stderr
    assert given.stdout == "2025-01-01T00:00:00.000Z firing humid humidity=75\n"


async def test_run_never_touches_a_state_path_that_is_not_a_state_file(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    before = rules.read_bytes()
    for state in (rules, tmp_path):  # `--state rules.yaml`, `--state some-directory`
        daemon = DaemonProc(rules, state, "--url", "http://127.0.0.1:9", "--api-key", API_KEY)
        await daemon.start(wait_connected=False)
        assert await daemon.wait_exit() == 2
        assert any(m.startswith("cannot use the state file: ") for m in daemon.messages())
    assert rules.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "rules.yaml"
    ]


async def test_state_none_runs_in_memory_and_says_so(sim: Simulator, tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", NO_SOURCE)
    daemon = DaemonProc(rules, Path("none"), "--url", sim.url, "--api-key", API_KEY)
    await daemon.start()
    assert await daemon.stop() == 0
    assert any(
        m.startswith("--state none: state is kept in memory only") for m in daemon.messages()
    )
    assert not Path("none").exists()
