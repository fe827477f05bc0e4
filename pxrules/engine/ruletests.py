"""Rule unit tests (``pxrules test``), as ``promtool test rules`` does for Prometheus: the rules
files to load, readings at relative times, silences if any, and the notifications (and alert
states) expected at given times; the engine runs them in virtual time, so a test of hours takes
milliseconds. The format is in docs/testing-rules.md.

>>> expand_series("60 75x3 _ 1+2x2 open removed")
['60', '75', '75', '75', '75', None, '1', '3', '5', 'open', <Removed>]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..alerts import Alert
from ..events import Event, format_time, parse_number, parse_time
from ..rules import Config, load_file
from ..rules.durations import DurationError, format_duration, parse_duration
from ..rules.problems import Problem
from ..rules.schema_errors import did_you_mean
from ..rules.yamldoc import Mark, YamlDocument, YamlFatal, load_yaml
from .replay import Replayer
from .ruleset import RuleSet
from .silences import Silence, SilenceBook, SilenceError
from .tracks import FIRING, PENDING

#: Where a test's clock starts unless the file says ``start:``.
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
_RANGE = re.compile(r"([-+]?\d+(?:\.\d+)?)(?:([-+]\d+(?:\.\d+)?))?x(\d+)", re.ASCII)
_SKIP_RANGE = re.compile(r"_x(\d+)", re.ASCII)
_FIELDS = ("value", "severity", "title", "message")
STATES = ("firing", "resolved", "flapping")


class _RemovedType:
    def __repr__(self) -> str:
        return "<Removed>"


#: A series step that removes the key (``removed`` in a series, ``removed: true`` in events).
REMOVED = _RemovedType()
Step = str | None | _RemovedType  # a value, no reading at this step (None), or a removal


def expand_series(text: str) -> list[Step]:
    """promtool's series notation, over text values: ``a+bxn`` is ``a, a+b, …, a+n·b`` (n+1
    values), ``axn`` is ``a`` n+1 times, ``_`` is no reading at that step (``_xn`` n+1 steps),
    ``removed`` removes the key; any other word is a value as written (``open``, ``ERR``)."""
    steps: list[Step] = []
    for token in text.split():
        if token == "_":
            steps.append(None)
        elif token == "removed":
            steps.append(REMOVED)
        elif (skip := _SKIP_RANGE.fullmatch(token)) is not None:
            steps.extend([None] * (int(skip[1]) + 1))
        elif (run := _RANGE.fullmatch(token)) is not None:
            start, step, count = float(run[1]), float(run[2] or 0), int(run[3])
            if count > 100_000:
                raise ValueError(f"{token!r}: at most 100000 repetitions")
            steps.extend(_number(start + i * step) for i in range(count + 1))
        else:
            steps.append(token)
    return steps


def _number(value: float) -> str:
    rounded = round(value, 9)
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


@dataclass(frozen=True)
class ExpectedAlert:
    at: float  # seconds from the start
    state: str
    rule: str
    key: str
    fields: Mapping[str, str]  # value, severity, title, message: compared when given

    def matches(self, at: float, alert: Alert) -> bool:
        if (at, alert.state, alert.rule, alert.key) != (self.at, self.state, self.rule, self.key):
            return False
        return all(getattr(alert, name) == wanted for name, wanted in self.fields.items())

    def line(self) -> str:
        extra = " ".join(f"{n}={v!r}" for n, v in self.fields.items() if n != "value")
        value = f"={self.fields['value']}" if "value" in self.fields else ""
        return f"{_at(self.at)} {self.state} {self.rule} {self.key}{value} {extra}".rstrip()


@dataclass(frozen=True)
class StateCheck:
    at: float
    firing: frozenset[tuple[str, str]] | None  # (rule, key); None: not checked
    pending: frozenset[tuple[str, str]] | None


@dataclass
class RuleTest:
    name: str
    index: int
    events: list[tuple[float, str, Step]]  # (seconds, key, step), in input order
    silences: list[dict[str, Any]]
    expected: list[ExpectedAlert] | None
    checks: list[StateCheck]
    until: float | None


@dataclass
class TestFile:
    path: Path
    rule_files: list[Path]
    start: datetime
    tests: list[RuleTest] = field(default_factory=list)


@dataclass
class Outcome:
    """One test's result: what was expected and not sent, sent and not expected, and state
    checks that did not hold."""

    test: RuleTest
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_state: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_state)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.test.name,
            "ok": self.ok,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "wrong_state": self.wrong_state,
            "sent": self.sent,
        }


def _at(seconds: float) -> str:
    return "0s" if seconds == 0 else format_duration(seconds)


def _alert_line(at: float, alert: Alert) -> str:
    return f"{_at(at)} {alert.state} {alert.rule} {alert.key}={alert.value}"


# -- loading ----------------------------------------------------------------------------------


class _Reader:
    """Reads a test file's YAML, collecting every problem with its position."""

    def __init__(self, path: Path, doc: YamlDocument) -> None:
        self.path, self.doc = path, doc
        self.problems: list[Problem] = [
            self._problem(issue.mark, issue.path, issue.message) for issue in doc.issues
        ]

    def _problem(self, mark: Mark, where: tuple[Any, ...], message: str) -> Problem:
        location = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in where)
        return Problem(str(self.path), mark.line, mark.column, "error", location or "file", message)

    def error(self, where: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.problems.append(self._problem(self.doc.mark_of(where, key=key), where, message))

    def mapping(self, value: Any, where: tuple[Any, ...], known: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(where, "expected a mapping")
            return {}
        for name in value:
            if name not in known:
                hint = did_you_mean(name, list(known))
                self.error((*where, name), f"unknown field {name!r}{hint}", key=True)
        return value

    def seconds(self, value: Any, where: tuple[Any, ...]) -> float | None:
        """A time from the start: a duration (``90s``, ``2m``) or 0."""
        if value == 0 or value == "0":
            return 0.0
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.error(where, f"{exc} (a time from the start of the test, e.g. 5m)")
            return None

    def text(self, value: Any, where: tuple[Any, ...]) -> str | None:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(where, "expected a string")
            return None
        return _number(value) if isinstance(value, float) else str(value)


def load_test_file(path: Path) -> TestFile | list[Problem]:
    """The test file at ``path``, or every problem found in it (a file that cannot be read is
    one problem at line 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return [Problem(str(path), 1, 1, "error", "file", f"cannot read the file: {reason}")]
    try:
        doc = load_yaml(text)
    except YamlFatal as exc:
        return [Problem(str(path), exc.mark.line, exc.mark.column, "error", "file", exc.message)]
    r = _Reader(path, doc)
    top = r.mapping(doc.data, (), ("rule_files", "start", "interval", "tests"))
    rule_files: list[Path] = []
    given = top.get("rule_files")
    if not isinstance(given, list) or not given:
        r.error(("rule_files",), "rule_files: a list of rules files (relative to this file)")
    else:
        for i, name in enumerate(given):
            if isinstance(name, str):
                rule_files.append(
                    (path.parent / name) if not Path(name).is_absolute() else Path(name)
                )
            else:
                r.error(("rule_files", i), "expected a file name")
    start = DEFAULT_START
    if "start" in top:
        try:
            start = parse_time(str(top["start"]))
        except ValueError:
            r.error(("start",), "start: an ISO-8601 time such as 2025-01-01T00:00:00Z")
    interval = r.seconds(top.get("interval", "1m"), ("interval",)) or 60.0
    tests = top.get("tests")
    found = TestFile(path, rule_files, start)
    if not isinstance(tests, list) or not tests:
        r.error(("tests",), "tests: a list of tests")
    else:
        for index, item in enumerate(tests):
            test = _read_test(r, item, ("tests", index), index, interval)
            if test is not None:
                found.tests.append(test)
    return r.problems if r.problems else found


_TEST_FIELDS = (
    "name", "interval", "input_series", "events", "silences", "expected_alerts",
    "expected_state", "until",
)  # fmt: skip


def _read_test(
    r: _Reader, item: Any, where: tuple[Any, ...], index: int, interval: float
) -> RuleTest | None:
    t = r.mapping(item, where, _TEST_FIELDS)
    if not t:
        return None
    name = t.get("name", f"tests[{index}]")
    step = r.seconds(t["interval"], (*where, "interval")) if "interval" in t else interval
    events: list[tuple[float, str, Step]] = []
    series = t.get("input_series", {})
    if not isinstance(series, dict):
        r.error((*where, "input_series"), 'a mapping of KEY: SERIES, e.g. humidity: "60 75x5"')
        series = {}
    for key, text in series.items():
        try:
            steps = expand_series(r.text(text, (*where, "input_series", key)) or "")
        except ValueError as exc:
            r.error((*where, "input_series", key), str(exc))
            continue
        events += [(i * (step or 60.0), key, s) for i, s in enumerate(steps) if s is not None]
    for i, event in enumerate(t.get("events") or []):
        at_ = (*where, "events", i)
        e = r.mapping(event, at_, ("at", "key", "value", "removed"))
        at = r.seconds(e.get("at"), (*at_, "at"))
        key = r.text(e.get("key"), (*at_, "key"))
        if e.get("removed") is True:
            value: Step = REMOVED
        else:
            value = r.text(e.get("value"), (*at_, "value"))
        if at is not None and key is not None and value is not None:
            events.append((at, key, value))
    silences = _read_silences(r, t.get("silences") or [], (*where, "silences"))
    expected = None
    if "expected_alerts" in t:
        expected = _read_expected(r, t["expected_alerts"] or [], (*where, "expected_alerts"))
    checks = _read_checks(r, t.get("expected_state") or [], (*where, "expected_state"))
    if expected is None and not checks:
        r.error(where, "a test needs expected_alerts (an empty list: nothing is sent) or "
                       "expected_state")  # fmt: skip
    until = r.seconds(t["until"], (*where, "until")) if "until" in t else None
    return RuleTest(str(name), index, events, silences, expected, checks, until)


def _read_silences(r: _Reader, items: Any, where: tuple[Any, ...]) -> list[dict[str, Any]]:
    found = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        s = r.mapping(
            item, (*where, i), ("matchers", "starts_at", "ends_at", "duration", "comment")
        )
        doc = dict(s)
        for name in ("starts_at", "ends_at"):
            if name in s:
                doc[name] = r.seconds(s[name], (*where, i, name))
        found.append(doc)
    return found


def _read_expected(r: _Reader, items: Any, where: tuple[Any, ...]) -> list[ExpectedAlert]:
    found = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        at_ = (*where, i)
        e = r.mapping(item, at_, ("at", "state", "rule", "key", *_FIELDS))
        at = r.seconds(e.get("at"), (*at_, "at"))
        state = e.get("state")
        if state not in STATES:
            r.error((*at_, "state"), "state: firing, resolved or flapping")
        rule, key = r.text(e.get("rule"), (*at_, "rule")), r.text(e.get("key"), (*at_, "key"))
        fields = {n: r.text(e[n], (*at_, n)) for n in _FIELDS if n in e}
        if at is not None and rule and key and state in STATES:
            clean = {n: v for n, v in fields.items() if v is not None}
            found.append(ExpectedAlert(at, str(state), rule, key, clean))
    return found


def _read_checks(r: _Reader, items: Any, where: tuple[Any, ...]) -> list[StateCheck]:
    found = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        c = r.mapping(item, (*where, i), ("at", "firing", "pending"))
        at = r.seconds(c.get("at"), (*where, i, "at"))

        def pairs(
            name: str, c: dict[str, Any] = c, i: int = i
        ) -> frozenset[tuple[str, str]] | None:
            if name not in c:
                return None
            out = set()
            for j, entry in enumerate(c[name] or []):
                e = r.mapping(entry, (*where, i, name, j), ("rule", "key"))
                if isinstance(e.get("rule"), str) and isinstance(e.get("key"), str):
                    out.add((e["rule"], e["key"]))
                else:
                    r.error((*where, i, name, j), "each entry is {rule: NAME, key: KEY}")
            return frozenset(out)

        if at is not None:
            found.append(StateCheck(at, pairs("firing"), pairs("pending")))
    return found


# -- running ----------------------------------------------------------------------------------


def load_rule_files(test_file: TestFile) -> tuple[list[Config], list[Problem]]:
    """The rules files a test file names, validated as ``pxrules check`` does (unset ``${VAR}``s
    are allowed: nothing is delivered), and the errors found in them."""
    configs: list[Config] = []
    problems: list[Problem] = []
    for path in test_file.rule_files:
        result = load_file(path, strict_env=False)
        problems += [p for p in result.problems if p.severity == "error"]
        if result.config is not None and result.ok:
            configs.append(result.config)
        elif not result.problems:
            problems.append(Problem(str(path), 1, 1, "error", "file", "invalid rules file"))
    return configs, problems


def run_test(configs: Sequence[Config], test: RuleTest, start: datetime) -> Outcome:
    """Run one test in virtual time; compare what was sent with what was expected."""
    outcome = Outcome(test)
    sent: list[tuple[float, int, int, Alert]] = []  # (seconds, file, order, alert)
    states: dict[float, list[tuple[str, str, str]]] = {}
    silences = SilenceBook(_silences(test.silences, start))
    replayers = []
    for number, config in enumerate(configs):

        def emit(alert: Alert, number: int = number) -> None:
            sent.append(((alert.at - start).total_seconds(), number, len(sent), alert))

        replayers.append(Replayer(RuleSet(config), emit, start=start, silences=silences))
    # Events and state checks in time order; a check at T sees every event at T.
    timeline = sorted(
        [(at, 0, i) for i, (at, _, _) in enumerate(test.events)]
        + [(check.at, 1, i) for i, check in enumerate(test.checks)]
    )
    for at, kind, i in timeline:
        moment = start + timedelta(seconds=at)
        if kind == 1:
            for replayer in replayers:
                replayer.run_until(moment)
                states.setdefault(at, []).extend(_phases(replayer))
            continue
        _, key, step = test.events[i]
        if step is REMOVED:
            event = Event("remove", key, None, moment, origin="replay")
        else:
            assert isinstance(step, str)
            event = Event("set", key, step, moment, parse_number(step), origin="replay")
        for replayer in replayers:
            replayer.feed(event)
    longest = max((c.longest_duration for c in configs), default=0.0)
    last = max(
        [at for at, _, _ in test.events]
        + [e.at for e in test.expected or []]
        + [c.at for c in test.checks],
        default=0.0,
    )
    end = test.until if test.until is not None else last + longest
    for replayer in replayers:
        replayer.run_until(start + timedelta(seconds=end))
    sent.sort(key=lambda s: (s[0], s[1], s[2]))
    outcome.sent = [_alert_line(at, alert) for at, _, _, alert in sent]
    if test.expected is not None:
        _compare(outcome, test.expected, [(at, alert) for at, _, _, alert in sent])
    for check in test.checks:
        _check_state(outcome, check, states.get(check.at, []))
    return outcome


def _silences(docs: list[dict[str, Any]], start: datetime) -> Iterator[Silence]:
    for i, doc in enumerate(docs):
        given = dict(doc)
        for name in ("starts_at", "ends_at"):
            if isinstance(given.get(name), float):
                given[name] = format_time(start + timedelta(seconds=given[name]))
        given.setdefault("id", f"silence-{i}")
        yield Silence.from_document(given, now=start)


def _phases(replayer: Replayer) -> list[tuple[str, str, str]]:
    engine = replayer.engine
    if engine is None:
        return []
    return [
        (track.phase.value, rule, key)
        for rule, tracks in engine.tracks.items()
        for key, track in tracks.items()
        if track.phase is FIRING or track.phase is PENDING
    ]


def _compare(
    outcome: Outcome, expected: list[ExpectedAlert], sent: list[tuple[float, Alert]]
) -> None:
    left = list(sent)
    for want in expected:
        for i, (at, alert) in enumerate(left):
            if want.matches(at, alert):
                del left[i]
                break
        else:
            outcome.missing.append(want.line())
    outcome.unexpected = [_alert_line(at, alert) for at, alert in left]


def _check_state(outcome: Outcome, check: StateCheck, seen: list[tuple[str, str, str]]) -> None:
    for phase, wanted in (("firing", check.firing), ("pending", check.pending)):
        if wanted is None:
            continue
        actual = {(rule, key) for p, rule, key in seen if p == phase}
        if actual != wanted:
            shown = ", ".join(f"{r} {k}" for r, k in sorted(actual)) or "none"
            expected = ", ".join(f"{r} {k}" for r, k in sorted(wanted)) or "none"
            outcome.wrong_state.append(f"at {_at(check.at)} {phase}: {shown} (expected {expected})")


def check_silences(test_file: TestFile) -> list[str]:
    """Problems with the silences of a test file (made as the test will make them)."""
    problems = []
    for test in test_file.tests:
        try:
            list(_silences(test.silences, test_file.start))
        except SilenceError as exc:
            problems.append(f"{test_file.path}: {test.name}: silences: {exc}")
    return problems
