"""A valid rules file as the engine and the daemon use it: rules with their defaults applied.

>>> from pxrules.rules.schema import Condition, DefaultsSpec, RuleSpec
>>> spec = RuleSpec(name="hot", key="t", when=Condition(above=30))
>>> rule = compile_rule(spec, DefaultsSpec(cooldown=600))
>>> rule.cooldown, rule.notify, rule.is_event_rule
(600.0, ('log',), False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import normalize_key
from .conditions import stale_durations
from .matchers import LabelMatcher
from .schema import (
    Condition,
    DefaultsSpec,
    FlappingSpec,
    GroupSpec,
    InhibitSpec,
    Language,
    NotifierSpec,
    RuleSpec,
    Severity,
    SourceSpec,
    TimeIntervalSpec,
    is_event_condition,
)
from .templates import Template
from .windows import Interval, TimeWindow, parse_dates, parse_times, parse_weekdays

#: Fields that do not apply to an event rule (every matching event notifies).
LEVEL_ONLY = ("for_", "clear", "keep_firing_for", "resolve", "flapping")


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
    title: Template | None = None  # None: the built-in title (pxrules.engine.texts)
    message: Template | None = None  # None: the built-in message
    language: Language = "en"  # of the built-in texts
    timezone: str | None = None  # of the times in the built-in texts (None: local)
    mute_during: tuple[str, ...] = ()  # time window names
    only_during: tuple[str, ...] = ()
    flapping: FlappingSpec | None = None

    @property
    def is_event_rule(self) -> bool:
        return is_event_condition(self.when)

    @property
    def longest_duration(self) -> float:
        """The longest time span this rule waits for (replay flushes timers this far)."""
        spans = [self.debounce, self.for_, self.keep_firing_for, self.repeat, self.cooldown]
        if self.flapping is not None:
            spans.append(self.flapping.window)
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
    time_windows: Mapping[str, TimeWindow] = field(default_factory=dict)
    inhibit: tuple[InhibitRule, ...] = ()
    #: Notifiers whose notifications wait in a buffer: grouped, or with time windows.
    buffered: Mapping[str, Buffering] = field(default_factory=dict)
    #: The project's name: ``project:``, or the file's name without its extension.
    project: str = ""

    @property
    def longest_duration(self) -> float:
        return max((rule.longest_duration for rule in self.rules), default=0.0)


def compile_rule(rule: RuleSpec, defaults: DefaultsSpec) -> RuleDef:
    """Apply defaults to the fields the rule does not set; event rules drop level-only ones."""
    event_rule = rule.is_event_rule

    def pick(name: str) -> Any:
        if name in rule.model_fields_set:
            return getattr(rule, name)
        if event_rule and name in LEVEL_ONLY:
            return None
        return getattr(defaults, name)

    where = pick("where") or {}
    return RuleDef(
        name=rule.name,
        when=rule.when,
        key=normalize_key(rule.key) if rule.key is not None else None,
        keys=tuple(normalize_key(k) for k in rule.keys or ()),
        description=pick("description"),
        where={normalize_key(k): v for k, v in where.items()},
        debounce=pick("debounce"),
        for_=pick("for_"),
        clear=pick("clear"),
        keep_firing_for=pick("keep_firing_for"),
        cooldown=pick("cooldown"),
        repeat=pick("repeat"),
        resolve=bool(pick("resolve")),
        severity=pick("severity") or "warning",
        notify=tuple(pick("notify") or ("log",)),
        title=Template(title) if (title := pick("title")) else None,
        message=Template(message) if (message := pick("message")) else None,
        language=pick("language") or "en",
        timezone=pick("timezone"),
        mute_during=tuple(pick("mute_during") or ()),
        only_during=tuple(pick("only_during") or ()),
        flapping=pick("flapping"),
    )


@dataclass(frozen=True)
class Buffering:
    """How one notifier's notifications wait: in groups, and/or for its time windows."""

    group: GroupSpec | None
    mute_during: tuple[str, ...] = ()
    only_during: tuple[str, ...] = ()


def buffering(
    notifiers: Mapping[str, NotifierSpec], defaults: DefaultsSpec
) -> dict[str, Buffering]:
    """The notifiers that group (their own ``group``, else ``defaults.group``; never a
    ``pxserv`` one) or have time windows."""
    found = {}
    for name, spec in notifiers.items():
        group = spec.group or (defaults.group if spec.pxserv is None else None)
        if group is not None or spec.mute_during or spec.only_during:
            found[name] = Buffering(group, tuple(spec.mute_during or ()),
                                    tuple(spec.only_during or ()))  # fmt: skip
    return found


@dataclass(frozen=True)
class InhibitRule:
    """A compiled ``inhibit`` entry."""

    source: LabelMatcher
    target: LabelMatcher
    equal: tuple[str, ...]


def compile_inhibit(spec: InhibitSpec) -> InhibitRule:
    return InhibitRule(
        LabelMatcher.compile(spec.source), LabelMatcher.compile(spec.target), tuple(spec.equal)
    )


def compile_window(name: str, intervals: list[TimeIntervalSpec]) -> TimeWindow:
    return TimeWindow(
        name,
        [
            Interval(
                weekdays=parse_weekdays(i.weekdays or []),
                times=parse_times(i.times or []),
                dates=parse_dates(i.dates or []),
                timezone=i.timezone,
            )
            for i in intervals
        ],
    )
