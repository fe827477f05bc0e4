"""Validation of one rules document: every problem, each at the line and column it is about.

pydantic checks each part against :mod:`pxrules.rules.schema`; this adds what needs the whole
file (notifier names, templates, Apprise URLs, event-rule fields, unset variables) and maps
every finding back to its position in the YAML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from ..webhooks import SecretError, check_secret
from .apprise_urls import apprise_for
from .envvars import interpolate
from .matchers import LABELS
from .model import (
    LEVEL_ONLY,
    Config,
    InhibitRule,
    buffering,
    compile_inhibit,
    compile_rule,
    compile_window,
)
from .problems import Level, Problem, format_location
from .schema import (
    EVENT_CONDITIONS,
    PROJECT_NAME,
    DefaultsSpec,
    InhibitSpec,
    NotifierSpec,
    RuleOptions,
    RuleSpec,
    SourceSpec,
    TimeIntervalSpec,
)
from .schema_errors import TOP_LEVEL, describe, did_you_mean, join_alternatives
from .templates import DOCUMENT_SAMPLE, SAMPLE, Template, TemplateError
from .windows import TimeWindow
from .yamldoc import Mark, Path, YamlDocument

BUILTIN_NOTIFIERS = ("log",)
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
_MIN_HIDDEN = 4  # shorter values are no secrets and would garble messages
MAX_PROBLEMS = 1000  # a hostile file can produce millions; no person reads past this
KEY_OR_KEYS = "give exactly one of key or keys"

M = TypeVar("M", bound=BaseModel)


class Reporter:
    """Problems with their positions in one document: reported at a path, interpolated
    ``${VAR}``s tracked (a problem under an unset variable is said once), pydantic's errors
    converted."""

    def __init__(self, path: str, doc: YamlDocument, env: Mapping[str, str], strict_env: bool):
        self.path = path
        self.doc = doc
        self.env = env
        self.strict_env = strict_env
        self.problems: list[Problem] = []
        self.unset_paths: set[Path] = set()
        self.yaml_issue_paths = {issue.path for issue in doc.issues}
        self.expanded: dict[Path, list[tuple[str, str]]] = {}  # path → (variable, its value)

    def report(
        self, where: Path, message: str, level: Level = "error", *, key: bool = False
    ) -> None:
        if self.full:
            return
        mark = self.doc.mark_of(where, key=key)
        message = self.hide_expanded(where, message)
        self.problems.append(
            Problem(self.path, mark.line, mark.column, level, format_location(where), message)
        )

    def hide_expanded(self, where: Path, message: str) -> str:
        """A variable's value (a secret in the wrong field, say) is shown as ``${NAME}``; a
        message that shows a cut value loses the longest part of it that it shows."""
        for name, value in self.expanded.get(where, ()):
            for end in range(len(value), _MIN_HIDDEN - 1, -1):
                if value[:end] in message:
                    message = message.replace(value[:end], f"${{{name}}}")
                    break
        return message

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
            if text != value:  # remember what came from variables: never echoed in a problem
                self.expanded[where] = [
                    (name, self.env[name])
                    for name in _VARIABLE.findall(value)
                    if len(self.env.get(name) or "") >= _MIN_HIDDEN
                ]
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
            loc, is_key, message = describe(error, data)
            full = (*where, *loc)
            if self.covered_by_unset_var(full) or full in self.yaml_issue_paths:
                continue  # already said: an unset variable, or a YAML 1.1 surprise
            grouped.setdefault((full, is_key), [])
            if message not in grouped[(full, is_key)]:
                grouped[(full, is_key)].append(message)
        for (full, is_key), messages in grouped.items():
            self.report(full, join_alternatives(messages), key=is_key)


class Validator(Reporter):
    """Every check of the rules file; the whole-file ones that pydantic cannot make."""

    def __init__(
        self,
        path: str,
        doc: YamlDocument,
        env: Mapping[str, str],
        strict_env: bool,
        source_overrides: Mapping[str, str] | None = None,
    ):
        super().__init__(path, doc, env, strict_env)
        self.notifier_names: list[str] = []  # every name defined, valid or not
        self.window_names: list[str] = []  # likewise for time_windows
        self.source_overrides = dict(source_overrides or {})

    def without_overridden(self, data: dict[str, Any]) -> dict[str, Any]:
        """The document without the source fields the command line replaces (their variables
        need not be set)."""
        raw_source = data.get("source")
        if not self.source_overrides or not isinstance(raw_source, dict):
            return data
        kept = {k: v for k, v in raw_source.items() if k not in self.source_overrides}
        return {**data, "source": kept}

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
                message = f"unknown field {name!r}{did_you_mean(name, list(TOP_LEVEL))}"
                self.report((name,), message, key=True)
        data = self.interpolate(self.without_overridden(data), ())
        if self.source_overrides:  # given on the command line: not interpolated, not the file's
            raw_source = data.get("source")
            base = raw_source if isinstance(raw_source, dict) else {}
            data["source"] = {**base, **self.source_overrides}

        project = self.check_project(data.get("project"))
        source = self.validate(SourceSpec, data.get("source") or {}, ("source",))
        if source is not None and not self.covered_by_unset_var(("source", "url")):
            self.check_http_url(source.url, ("source", "url"))
        raw_windows = data.get("time_windows")
        if isinstance(raw_windows, dict):  # known before notifiers and rules name them
            self.window_names = [name for name in raw_windows if isinstance(name, str)]
        notifiers = self.check_notifiers(data.get("notifiers"))
        windows = self.check_windows(raw_windows)
        inhibit = self.check_inhibit(data.get("inhibit"))
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
        compiled = tuple(compile_rule(rule, defaults) for rule in rules)
        config = Config(
            self.path, source, notifiers, compiled, windows, inhibit,
            buffering(notifiers, defaults), project,
        )  # fmt: skip
        return config, rule_count, notifier_count

    def check_windows(self, raw: Any) -> dict[str, TimeWindow]:
        """``time_windows``: each a list of intervals."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.report(("time_windows",), "time_windows: a mapping of NAME: [intervals]")
            return {}
        self.window_names = [name for name in raw if isinstance(name, str)]
        windows: dict[str, TimeWindow] = {}
        for name, intervals in raw.items():
            where: Path = ("time_windows", name)
            if not isinstance(intervals, list) or not intervals:
                self.report(where, "a time window is a list of intervals, e.g. "
                            "[{weekdays: [mon-fri], times: ['22:00-06:00']}]")  # fmt: skip
                continue
            specs = [
                self.validate(TimeIntervalSpec, item, (*where, i))
                for i, item in enumerate(intervals)
            ]
            if all(spec is not None for spec in specs):
                windows[name] = compile_window(name, [s for s in specs if s is not None])
        return windows

    def check_inhibit(self, raw: Any) -> tuple[InhibitRule, ...]:
        """``inhibit``: each entry valid, and its ``equal`` labels known on both sides."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.report(("inhibit",), "inhibit: a list of {source, target, equal}")
            return ()
        rules = []
        for i, item in enumerate(raw):
            spec = self.validate(InhibitSpec, item, ("inhibit", i))
            if spec is None:
                continue
            rule = compile_inhibit(spec)
            both = set(LABELS) | (rule.source.captures & rule.target.captures)
            for j, label in enumerate(spec.equal):
                if label not in both:
                    known = sorted(both)
                    self.report(
                        ("inhibit", i, "equal", j),
                        f"{label!r} is neither a label nor a {{capture}} of both source and "
                        f"target{did_you_mean(label, known)}; known: {', '.join(known)}",
                    )
            rules.append(rule)
        return tuple(rules)

    def check_project(self, raw: Any) -> str:
        """``project``: a name, or the file's name without its extension."""
        if raw is None:
            return default_project(self.path)
        if not isinstance(raw, str) or not re.fullmatch(PROJECT_NAME, raw):
            self.report(("project",), f"project {raw!r}: letters, digits, '.', '_' and '-' "
                        "(starting with a letter or digit), up to 64")  # fmt: skip
            return default_project(self.path)
        return raw

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
                if spec.webhook.secret:
                    try:
                        check_secret(spec.webhook.secret)
                    except SecretError as exc:  # says why, never the secret
                        self.report((*where, "webhook", "secret"), str(exc))
                        ok = False
            if spec.apprise is not None:
                ok &= self.check_apprise(spec, where)
            if spec.pxserv is not None:
                for key, template in spec.pxserv.set.items():
                    at: Path = (*where, "pxserv", "set", key)
                    self.check_template(template, at, DOCUMENT_SAMPLE)
                if spec.group is not None:
                    self.report(
                        (*where, "group"),
                        "a pxserv notifier cannot group: it writes each alert's own values",
                        key=True,
                    )
                    ok = False
            if isinstance(spec_data, dict):
                self.check_window_names(spec_data, where)
        return result if ok else None

    def check_window_names(self, raw: dict[str, Any], where: Path) -> None:
        """``mute_during`` / ``only_during`` name windows that ``time_windows`` defines."""
        for field_name in ("mute_during", "only_during"):
            names = raw.get(field_name)
            for i, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str) and name not in self.window_names:
                    defined = ", ".join(self.window_names) or "none"
                    self.report(
                        (*where, field_name, i),
                        f"unknown time window {name!r}"
                        f"{did_you_mean(name, self.window_names)}; defined: {defined}",
                    )

    def check_apprise(self, spec: NotifierSpec, where: Path) -> bool:
        urls = spec.apprise_urls
        ok = True
        for i, url in enumerate(urls):
            at: Path = (*where, "apprise")
            if not isinstance(spec.apprise, str):
                at = (*at, i)
            if self.covered_by_unset_var(at):
                continue
            if apprise_for(url) is None:
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
        self.check_window_names(raw, where)
        notify = raw.get("notify")
        if isinstance(notify, list):
            known = [*BUILTIN_NOTIFIERS, *self.notifier_names]
            for i, name in enumerate(notify):
                if isinstance(name, str) and name not in known:
                    self.report(
                        (*where, "notify", i),
                        f"unknown notifier {name!r}{did_you_mean(name, known)}; "
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
                for attr in LEVEL_ONLY:
                    field_name = "for" if attr == "for_" else attr
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


def default_project(path: str) -> str:
    """A rules file's project when it names none: its name without the extension
    (``""`` for text that is not a file)."""
    if path.startswith("<"):
        return ""
    return PurePath(path).stem
