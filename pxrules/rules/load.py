"""Rules file → validated rule definitions, with every problem at ``path:line:col``.

>>> result = load_text("rules: [{name: hot, key: t, when: {above: 30}}]", "r.yaml")
>>> result.ok, [rule.name for rule in result.config.rules]
(True, ['hot'])
>>> print(load_text("rules: [{name: hot, key: t, when: {abvoe: 30}}]", "r.yaml").problems[0])
r.yaml:1:37: error: rules[0].when.abvoe: unknown field 'abvoe' (did you mean 'above'?)
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from ..errors import PxRulesError
from .conditions import stale_durations
from .envvars import interpolate
from .schema import (
    BOOL_FIELDS,
    EVENT_CONDITIONS,
    Condition,
    DefaultsSpec,
    NotifierSpec,
    PxServWriteSpec,
    RuleOptions,
    RuleSpec,
    Severity,
    SourceSpec,
    WebhookSpec,
)
from .templates import (
    DEFAULT_MESSAGE,
    DEFAULT_TITLE,
    DOCUMENT_SAMPLE,
    SAMPLE,
    Template,
    TemplateError,
)
from .yamldoc import Mark, Path, YamlDocument, YamlFatal, load_yaml

MAX_FILE_BYTES = 5 * 1024 * 1024
BUILTIN_NOTIFIERS = ("log",)
TOP_LEVEL = ("source", "notifiers", "defaults", "rules")
MAX_PROBLEMS = 1000  # a hostile file can produce millions; no person reads past this
KEY_OR_KEYS = "give exactly one of key or keys"

Level = Literal["error", "warning"]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of ``check``: ``PATH:LINE:COL: error|warning: LOCATION: MESSAGE``."""

    path: str
    line: int
    column: int
    severity: Level
    location: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: {self.severity}: "
            f"{self.location}: {self.message}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "location": self.location,
            "message": self.message,
        }


class RulesError(PxRulesError):
    """An invalid rules file; ``problems`` holds every error and warning found."""

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid rules file")
        self.problems = problems


@dataclass(frozen=True)
class RuleDef:
    """One rule with defaults applied and templates compiled: what the engine runs."""

    name: str
    when: Condition
    key: str | None = None
    keys: tuple[str, ...] = ()
    description: str | None = None
    where: Mapping[str, Condition] = field(default_factory=dict)
    debounce: float | None = None
    for_: float | None = None
    clear: Condition | None = None
    keep_firing_for: float | None = None
    cooldown: float | None = None
    repeat: float | None = None
    resolve: bool = False
    severity: Severity = "warning"
    notify: tuple[str, ...] = ("log",)
    title: Template = field(default_factory=lambda: Template(DEFAULT_TITLE))
    message: Template = field(default_factory=lambda: Template(DEFAULT_MESSAGE))

    @property
    def is_event_rule(self) -> bool:
        return any(self.when.uses(name) for name in EVENT_CONDITIONS)

    @property
    def longest_duration(self) -> float:
        """The longest time span this rule waits for (replay flushes timers this far)."""
        spans = [self.debounce, self.for_, self.keep_firing_for, self.repeat, self.cooldown]
        spans.extend(stale_durations(self.when))
        if self.clear is not None:
            spans.extend(stale_durations(self.clear))
        return max((s for s in spans if s), default=0.0)


@dataclass(frozen=True)
class Config:
    """A valid rules file: the source, the notifiers and the compiled rules."""

    path: str
    source: SourceSpec
    notifiers: Mapping[str, NotifierSpec]
    rules: tuple[RuleDef, ...]

    @property
    def longest_duration(self) -> float:
        return max((rule.longest_duration for rule in self.rules), default=0.0)


@dataclass
class LoadResult:
    """What loading found. ``config`` is set when there are no errors."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    config: Config | None = None
    unreadable: bool = False
    rule_count: int = 0
    notifier_count: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors and self.config is not None

    def summary(self) -> str:
        if self.ok:
            n = len(self.warnings)
            tail = f", {n} warning{'s' if n != 1 else ''}" if n else ""
            return (
                f"{self.path}: {self.rule_count} rules, {self.notifier_count} notifiers, OK{tail}"
            )
        n_err, n_warn = len(self.errors), len(self.warnings)
        return (
            f"{self.path}: {n_err} error{'s' if n_err != 1 else ''}, "
            f"{n_warn} warning{'s' if n_warn != 1 else ''}"
        )


def format_location(path: Path) -> str:
    """``("rules", 2, "when", "above")`` → ``rules[2].when.above``."""
    if not path:
        return "(root)"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def _all_field_names() -> list[str]:
    names: set[str] = set(TOP_LEVEL)
    models: list[type[BaseModel]] = [
        Condition,
        RuleSpec,
        SourceSpec,
        NotifierSpec,
        DefaultsSpec,
        WebhookSpec,
        PxServWriteSpec,
    ]
    for model in models:
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
    return sorted(names)


_FIELD_NAMES = _all_field_names()


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    """Collects problems while validating one document."""

    def __init__(self, path: str, doc: YamlDocument, env: Mapping[str, str], strict_env: bool):
        self.path = path
        self.doc = doc
        self.env = env
        self.strict_env = strict_env
        self.problems: list[Problem] = []
        self.unset_paths: set[Path] = set()
        self.yaml_issue_paths = {issue.path for issue in doc.issues}
        self.notifier_names: list[str] = []  # every name defined, valid or not

    def report(
        self, where: Path, message: str, level: Level = "error", *, key: bool = False
    ) -> None:
        if self.full:
            return
        mark = self.doc.mark_of(where, key=key)
        self.problems.append(
            Problem(self.path, mark.line, mark.column, level, format_location(where), message)
        )

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def report_at(self, where: Path, mark: Mark, message: str, level: Level = "error") -> None:
        if self.full:
            return
        self.problems.append(
            Problem(self.path, mark.line, mark.column, level, format_location(where), message)
        )

    def covered_by_unset_var(self, where: Path) -> bool:
        return any(where[: len(p)] == p for p in self.unset_paths)

    # -- interpolation --------------------------------------------------------------------

    def interpolate(self, value: Any, where: Path) -> Any:
        if isinstance(value, str):
            text, missing = interpolate(value, self.env)
            for name in dict.fromkeys(missing):
                self.unset_paths.add(where)
                level: Level = "error" if self.strict_env else "warning"
                self.report(where, f"environment variable {name} is not set", level)
            return text
        if isinstance(value, dict):
            return {k: self.interpolate(v, (*where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.interpolate(v, (*where, i)) for i, v in enumerate(value)]
        return value

    # -- pydantic -------------------------------------------------------------------------

    def validate(self, model: type[M], data: Any, where: Path) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.convert(exc, data, where)
            return None

    def convert(self, exc: ValidationError, data: Any, where: Path) -> None:
        grouped: dict[tuple[Path, bool], list[str]] = {}
        for error in exc.errors(include_url=False, include_context=False, include_input=False):
            if len(self.problems) + len(grouped) >= MAX_PROBLEMS:
                break
            loc, is_key, message = self.describe(error, data)
            full = (*where, *loc)
            if self.covered_by_unset_var(full) or full in self.yaml_issue_paths:
                continue  # already said: an unset variable, or a YAML 1.1 surprise
            grouped.setdefault((full, is_key), [])
            if message not in grouped[(full, is_key)]:
                grouped[(full, is_key)].append(message)
        for (full, is_key), messages in grouped.items():
            self.report(full, _join_alternatives(messages), key=is_key)

    def describe(self, error: Any, data: Any) -> tuple[Path, bool, str]:
        """Map a pydantic error to (path in the data, points at a key?, message)."""
        loc: list[str | int] = []
        node = data
        raw = list(error["loc"])
        kind = error["type"]
        for i, part in enumerate(raw):
            last = i == len(raw) - 1
            in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if in_dict or in_list:
                loc.append(part)
                node = node[part]
            elif last and kind == "missing" and isinstance(part, str):
                return tuple(loc), False, f"missing required field {part!r}"
            # anything else is a union member's tag (``str``, ``list[...]``): not in the data
        message = str(error["msg"])
        if kind == "extra_forbidden":
            name = str(loc[-1]) if loc else "?"
            return tuple(loc), True, f"unknown field {name!r}{_did_you_mean(name, _FIELD_NAMES)}"
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "literal_error" and isinstance(node, str) and loc and loc[-1] == "severity":
            message += _did_you_mean(node, ["info", "warning", "critical"])
        return tuple(loc), False, message

    # -- the document ---------------------------------------------------------------------

    def check(self) -> tuple[Config | None, int, int]:
        data = self.doc.data
        for issue in self.doc.issues:
            self.report_at(issue.path, issue.mark, issue.message)
        if not isinstance(data, dict):
            kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
            self.report((), f"the file must be a mapping with a 'rules' list, not {kind}")
            return None, 0, 0
        for name in data:
            if name not in TOP_LEVEL:
                message = f"unknown field {name!r}{_did_you_mean(name, list(TOP_LEVEL))}"
                self.report((name,), message, key=True)
        data = self.interpolate(data, ())

        source = self.validate(SourceSpec, data.get("source") or {}, ("source",))
        if source is not None and not self.covered_by_unset_var(("source", "url")):
            self.check_http_url(source.url, ("source", "url"))
        notifiers = self.check_notifiers(data.get("notifiers"))
        raw_defaults = data.get("defaults") or {}
        if isinstance(raw_defaults, dict):
            self.check_raw_options(raw_defaults, ("defaults",))
        defaults = self.validate(DefaultsSpec, raw_defaults, ("defaults",))
        if defaults is not None:
            self.check_conditions(defaults, ("defaults",))

        raw_rules = data.get("rules")
        rules: list[RuleSpec] = []
        if "rules" not in data:
            self.report((), "missing required field 'rules'")
        elif not isinstance(raw_rules, list):
            self.report(("rules",), "'rules' must be a list of rules")
        else:
            rules = self.check_rules(raw_rules, defaults, notifiers)
            if not raw_rules:
                self.report(("rules",), "no rules: the daemon would do nothing", "warning")
            self.warn_unused_notifiers(notifiers, raw_rules, data.get("defaults"))

        rule_count = len(raw_rules) if isinstance(raw_rules, list) else 0
        notifier_count = len(notifiers) if notifiers is not None else 0
        has_errors = any(p.severity == "error" for p in self.problems)
        if has_errors or source is None or notifiers is None or defaults is None:
            return None, rule_count, notifier_count
        # Only now: compiling needs every template and default to be valid.
        compiled = tuple(_compile(rule, defaults) for rule in rules)
        return Config(self.path, source, notifiers, compiled), rule_count, notifier_count

    def check_http_url(self, url: str, where: Path) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.report(where, "must be an http:// or https:// URL")

    def check_notifiers(self, raw: Any) -> dict[str, NotifierSpec] | None:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.report(("notifiers",), "'notifiers' must be a mapping of names to notifiers")
            return None
        result: dict[str, NotifierSpec] = {}
        ok = True
        self.notifier_names = [name for name in raw if name not in BUILTIN_NOTIFIERS]
        for name, spec_data in raw.items():
            where: Path = ("notifiers", name)
            if name in BUILTIN_NOTIFIERS:
                self.report(where, f"{name!r} is built in and cannot be redefined", key=True)
                ok = False
                continue
            spec = self.validate(NotifierSpec, spec_data, where)
            if spec is None:
                ok = False
                continue
            result[name] = spec
            if spec.webhook is not None and not self.covered_by_unset_var((*where, "webhook")):
                self.check_http_url(spec.webhook.url, (*where, "webhook", "url"))
            if spec.apprise is not None:
                ok &= self.check_apprise(spec, where)
            if spec.pxserv is not None:
                for key, template in spec.pxserv.set.items():
                    at: Path = (*where, "pxserv", "set", key)
                    self.check_template(template, at, DOCUMENT_SAMPLE)
        return result if ok else None

    def check_apprise(self, spec: NotifierSpec, where: Path) -> bool:
        urls = spec.apprise_urls
        ok = True
        for i, url in enumerate(urls):
            at: Path = (*where, "apprise")
            if not isinstance(spec.apprise, str):
                at = (*at, i)
            if self.covered_by_unset_var(at):
                continue
            if not _apprise_accepts(url):
                scheme = url.split("://", 1)[0] if "://" in url else url[:12]
                self.report(
                    at,
                    f"Apprise does not recognise this URL (scheme {scheme}://); "
                    "see the Apprise wiki for the URL of each service",
                )
                ok = False
        return ok

    def check_template(
        self, source: str | None, where: Path, sample: Mapping[str, Any] = SAMPLE
    ) -> None:
        if source is None or self.covered_by_unset_var(where):
            return
        try:
            Template(source).check(sample)
        except TemplateError as exc:
            self.report(where, str(exc))

    def check_raw_options(self, raw: dict[str, Any], where: Path) -> None:
        """Checks that need only the raw field, so they run even when pydantic rejected the rule."""
        for name in ("title", "message"):
            if isinstance(raw.get(name), str):
                self.check_template(raw[name], (*where, name))
        notify = raw.get("notify")
        if isinstance(notify, list):
            known = [*BUILTIN_NOTIFIERS, *self.notifier_names]
            for i, name in enumerate(notify):
                if isinstance(name, str) and name not in known:
                    self.report(
                        (*where, "notify", i),
                        f"unknown notifier {name!r}{_did_you_mean(name, known)}; "
                        f"defined: {', '.join(known)}",
                    )

    def check_conditions(self, options: RuleOptions, where: Path) -> None:
        for key, condition in (options.where or {}).items():
            for name in (*EVENT_CONDITIONS, "stale"):
                if condition.uses(name):
                    self.report(
                        (*where, "where", key),
                        f"'{name}' cannot be used in where (it is checked against the "
                        "latest value of another key)",
                    )
        if options.clear is not None:
            for name in EVENT_CONDITIONS:
                if options.clear.uses(name):
                    self.report(
                        (*where, "clear"), f"'{name}' cannot be used in clear (an event condition)"
                    )

    def check_rules(
        self,
        raw_rules: list[Any],
        defaults: DefaultsSpec | None,
        notifiers: Mapping[str, NotifierSpec] | None,
    ) -> list[RuleSpec]:
        valid: list[RuleSpec] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_rules):
            where: Path = ("rules", i)
            if isinstance(raw, dict):
                name = raw.get("name")
                if isinstance(name, str) and name in seen:
                    self.report(
                        (*where, "name"),
                        f"duplicate rule name {name!r} (also rules[{seen[name]}])",
                    )
                if isinstance(name, str):
                    seen.setdefault(name, i)
                if ("key" in raw) == ("keys" in raw):
                    self.report(where, KEY_OR_KEYS)
                self.check_raw_options(raw, where)
            rule = self.validate(RuleSpec, raw, where)
            if rule is None:
                continue
            self.check_conditions(rule, where)
            if rule.is_event_rule:
                for field_name in ("for", "clear", "keep_firing_for", "resolve"):
                    attr = "for_" if field_name == "for" else field_name
                    # resolve: false says what an event rule does anyway
                    if attr in rule.model_fields_set and getattr(rule, attr) is not False:
                        self.report(
                            (*where, field_name),
                            f"'{field_name}' does not apply to an event rule (when uses "
                            "changed/changed_by: every matching event notifies)",
                            key=True,
                        )
            valid.append(rule)
        return valid

    def warn_unused_notifiers(
        self, notifiers: Mapping[str, NotifierSpec] | None, raw_rules: list[Any], defaults: Any
    ) -> None:
        if not notifiers:
            return
        used: set[str] = set()
        for item in [*raw_rules, defaults]:
            if isinstance(item, dict) and isinstance(item.get("notify"), list):
                used.update(n for n in item["notify"] if isinstance(n, str))
        for name in notifiers:
            if name not in used:
                message = f"notifier {name!r} is not used"
                self.report(("notifiers", name), message, "warning", key=True)


def _join_alternatives(messages: list[str]) -> str:
    """Union members each complain; say it once: 'Input should be a valid string or number'."""
    if len(messages) == 1:
        return messages[0]
    prefix = "Input should be "
    if all(m.startswith(prefix) for m in messages):
        return prefix + " or ".join(m.removeprefix(prefix) for m in messages)
    return "; or ".join(messages)


def _nfc(key: str) -> str:
    return unicodedata.normalize("NFC", key)


def _compile(rule: RuleSpec, defaults: DefaultsSpec) -> RuleDef:
    """Apply defaults to the fields the rule does not set; event rules drop level-only ones."""

    def pick(name: str) -> Any:
        if name in rule.model_fields_set:
            return getattr(rule, name)
        if rule.is_event_rule and name in ("for_", "clear", "keep_firing_for", "resolve"):
            return None
        return getattr(defaults, name)

    where = pick("where") or {}
    return RuleDef(
        name=rule.name,
        when=rule.when,
        key=_nfc(rule.key) if rule.key is not None else None,
        keys=tuple(_nfc(k) for k in rule.keys or ()),
        description=pick("description"),
        where={_nfc(k): v for k, v in where.items()},
        debounce=pick("debounce"),
        for_=pick("for_"),
        clear=pick("clear"),
        keep_firing_for=pick("keep_firing_for"),
        cooldown=pick("cooldown"),
        repeat=pick("repeat"),
        resolve=bool(pick("resolve")),
        severity=pick("severity") or "warning",
        notify=tuple(pick("notify") or ("log",)),
        title=Template(pick("title") or DEFAULT_TITLE),
        message=Template(pick("message") or DEFAULT_MESSAGE),
    )


def _apprise_accepts(url: str) -> bool:
    """Whether Apprise recognises the URL, offline. Apprise's own log lines are silenced
    (they could carry the URL's token)."""
    import apprise

    logger = logging.getLogger("apprise")
    previous = logger.disabled
    logger.disabled = True
    try:
        return bool(apprise.Apprise().add(url))
    finally:
        logger.disabled = previous


# -- entry points ---------------------------------------------------------------------------


def load_text(
    text: str,
    path: str = "<string>",
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> LoadResult:
    """Validate rules-file text. ``strict_env`` makes unset ``${VAR}`` errors (as in ``run``)."""
    result = LoadResult(path)
    if "\x00" in text:
        result.problems.append(
            Problem(path, 1, 1, "error", "(root)", "the file contains NUL bytes: is it binary?")
        )
        return result
    try:
        doc = load_yaml(text, bool_keys=BOOL_FIELDS)
    except YamlFatal as exc:
        result.problems.append(
            Problem(path, exc.mark.line, exc.mark.column, "error", "(root)", exc.message)
        )
        return result
    checker = _Checker(path, doc, os.environ if env is None else env, strict_env)
    config, result.rule_count, result.notifier_count = checker.check()
    result.problems = sorted(set(checker.problems), key=lambda p: (p.line, p.column, p.message))
    if checker.full:
        result.problems.append(
            Problem(path, 1, 1, "error", "(root)", f"more than {MAX_PROBLEMS} problems: stopped")
        )
    result.config = config
    return result


def load_file(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> LoadResult:
    """Read and validate a rules file. ``unreadable`` is set when it cannot be read at all."""
    name = str(path)
    file = FilePath(path)
    result = LoadResult(name)

    def fail(message: str, line: int = 1, column: int = 1, unreadable: bool = False) -> LoadResult:
        result.problems.append(Problem(name, line, column, "error", "(root)", message))
        result.unreadable = unreadable
        return result

    try:
        if file.is_dir():
            return fail("is a directory, not a rules file", unreadable=True)
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return fail(f"cannot read: {exc.strerror or exc}", unreadable=True)
    if len(raw) > MAX_FILE_BYTES:
        return fail(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        return fail(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): is it binary?", line, column)
    return load_text(text, name, env=env, strict_env=strict_env)


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Load a rules file for running: unset variables are errors. Raises :class:`RulesError`."""
    result = load_file(path, env=env, strict_env=True)
    if not result.ok or result.config is None:
        raise RulesError(result.problems)
    return result.config
