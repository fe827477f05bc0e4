"""The rules file as pydantic models: the single source of validation and of the JSON Schema.

Field descriptions here are what editors show (``pxrules schema``) and what docs/rules.md explains.
Cross-field checks that need the whole file (notifier names, templates, Apprise URLs) live in
:mod:`pxrules.rules.validate`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..events import DEFAULT_URL
from .durations import EXAMPLES, parse_duration
from .matchers import LabelMatcher
from .regex import compile_pattern
from .windows import parse_dates, parse_times, parse_weekdays

#: Keys whose values may be YAML 1.1 booleans (``snapshot: yes``): they are real booleans.
BOOL_FIELDS = frozenset({"snapshot", "resolve", "changed", "removed"})

#: Conditions that make a rule an event rule (every matching event notifies).
EVENT_CONDITIONS = ("changed", "changed_by")

Severity = Literal["info", "warning", "critical"]
Language = Literal["en", "tr"]


def _time_zone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r:.60}: use an IANA name such as Europe/Istanbul or UTC"
            ) from None
    return value


TimeZone = Annotated[str, BeforeValidator(_time_zone)]


def _duration(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(lambda s: s, return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w)?\s*)+$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": f"A duration: {EXAMPLES}.",
        }
    ),
]


def _finite_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError('expected a string or a number; write "true"/"false" in quotes for text')
    if value is None:
        raise ValueError("expected a string or a number, got nothing (null)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


Number = Annotated[float, BeforeValidator(_finite_number)]
Scalar = Annotated[
    str | float,
    BeforeValidator(_scalar),
    WithJsonSchema({"type": ["string", "number"]}),
]
NonEmptyStr = Annotated[str, Field(min_length=1)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
#: A project's name: a label in alert documents, log lines, metrics and silence matchers.
PROJECT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ProjectName = Annotated[str, Field(pattern=PROJECT_NAME)]
KeyPattern = Annotated[str, Field(min_length=1, max_length=1024)]


class Strict(BaseModel):
    """Unknown fields are errors (a typo must never be silently ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Condition(Strict):
    """Every field given must hold (AND). Combinators nest other conditions."""

    above: Number | None = Field(None, description="Holds when the numeric value is > N.")
    below: Number | None = Field(None, description="Holds when the numeric value is < N.")
    at_least: Number | None = Field(None, description="Holds when the numeric value is >= N.")
    at_most: Number | None = Field(None, description="Holds when the numeric value is <= N.")
    equals: Scalar | None = Field(
        None, description="Same value: numerically if both sides are numbers, else exact string."
    )
    not_equals: Scalar | None = Field(None, description="Not the same value (as for equals).")
    in_: list[Scalar] | None = Field(
        None, alias="in", description="The value is one of these (compared as for equals)."
    )
    not_in: list[Scalar] | None = Field(
        None, description="The value is none of these (compared as for equals)."
    )
    matches: str | None = Field(
        None,
        description="A regular expression (RE2 syntax: linear time, no backreferences or "
        "lookaround) searched in the string value.",
    )
    changed: Literal[True] | None = Field(
        None, description="The value differs from the key's previous value (makes an event rule)."
    )
    changed_by: Number | None = Field(
        None,
        description="|value - previous value| >= N, both numeric (makes an event rule).",
        gt=0,
    )
    removed: bool | None = Field(
        None, description="true: the key was removed (removeData) and not set since."
    )
    stale: Duration | None = Field(
        None, description="No setData for the key for this long (a dead sensor)."
    )
    all: list[Condition] | None = Field(None, description="Every one of these holds.")
    any: list[Condition] | None = Field(None, description="At least one of these holds.")
    not_: Condition | None = Field(None, alias="not", description="This condition does not hold.")

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)  # RegexError (a ValueError) says why
        return value

    @field_validator("all", "any")
    @classmethod
    def _non_empty(cls, value: list[Condition] | None) -> list[Condition] | None:
        if value is not None and not value:
            raise ValueError("needs at least one condition")
        return value

    @model_validator(mode="after")
    def _something_given(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("an empty condition: give at least one test such as above: 70")
        return self

    def uses(self, name: str) -> bool:
        """Whether ``name`` (a field name such as ``changed``) appears anywhere in the tree."""
        if getattr(self, name, None) is not None:
            return True
        children = [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]
        return any(child.uses(name) for child in children)


class WebhookSpec(Strict):
    url: NonEmptyStr = Field(description="http(s) URL that receives the alert document as JSON.")
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="HTTP method.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (values may use ${VAR})."
    )
    secret: str | None = Field(
        None, description="Signs each request with Standard Webhooks headers (webhook-signature)."
    )
    timeout: Duration = Field(10.0, description="Timeout of one attempt.")


class PxServWriteSpec(Strict):
    set: dict[str, str] = Field(
        default_factory=dict, description="Keys to set; each value is a template."
    )
    toggle: list[NonEmptyStr] = Field(
        default_factory=list, description='Keys to flip between "0" and "1".'
    )
    remove: list[NonEmptyStr] = Field(default_factory=list, description="Keys to remove.")

    @model_validator(mode="after")
    def _does_something(self) -> PxServWriteSpec:
        if not (self.set or self.toggle or self.remove):
            raise ValueError("give at least one of set, toggle, remove")
        return self


class GroupSpec(Strict):
    """Alerts with the same ``by`` labels go out as one notification."""

    by: list[NonEmptyStr] = Field(
        min_length=1,
        description="Labels that make a group: project, rule, key, severity, or a key glob "
        "with {captures} (gateway/{gw}/*): its captures are labels.",
    )
    wait: Duration = Field(30.0, description="How long a new group waits for more alerts.")
    interval: Duration = Field(
        300.0, description="A group's later changes go out at most this often."
    )

    @field_validator("by")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if "{" in label:
                LabelMatcher.compile({"key": label})  # ValueError says why
                if not LabelMatcher.compile({"key": label}).captures:
                    raise ValueError(f"{label!r}: a key glob in by needs a {{capture}}")
            elif label not in ("project", "rule", "key", "severity"):
                raise ValueError(
                    f"{label!r}: group by project, rule, key, severity, or a key glob with "
                    "{captures} such as gateway/{gw}/*"
                )
        return value


class NotifierSpec(Strict):
    """Exactly one of ``apprise``, ``webhook``, ``pxserv``."""

    apprise: NonEmptyStr | list[NonEmptyStr] | None = Field(
        None, description="An Apprise URL or a list of them; each URL is its own target."
    )
    webhook: WebhookSpec | None = Field(None, description="POST the alert document to a URL.")
    pxserv: PxServWriteSpec | None = Field(
        None, description="Write back to PxServ over REST with the source's url and key."
    )
    retry_for: Duration = Field(
        3600.0, description="Give up retrying a failed delivery after this long."
    )
    group: GroupSpec | None = Field(
        None, description="Send alerts with the same labels as one notification."
    )
    mute_during: list[Name] | None = Field(
        None,
        description="Time windows during which this notifier is sent nothing; what is still "
        "true when the window ends is sent then.",
    )
    only_during: list[Name] | None = Field(
        None, description="Time windows outside of which this notifier is sent nothing."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> NotifierSpec:
        kinds = [k for k in ("apprise", "webhook", "pxserv") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "a notifier needs exactly one of apprise, webhook, pxserv"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("apprise", "webhook", "pxserv") if getattr(self, k) is not None)

    @property
    def apprise_urls(self) -> list[str]:
        if self.apprise is None:
            return []
        return [self.apprise] if isinstance(self.apprise, str) else list(self.apprise)


class TimeIntervalSpec(Strict):
    """One interval of a time window: every field given must match (an empty one matches all)."""

    weekdays: list[str] | None = Field(
        None, description="Days of the week: mon … sun, or ranges such as mon-fri."
    )
    times: list[str] | None = Field(
        None,
        description='Times of day "HH:MM-HH:MM" (end excluded); "22:00-06:00" crosses '
        "midnight and belongs to the day it begins on.",
    )
    dates: list[str] | None = Field(
        None, description="Dates YYYY-MM-DD, or ranges YYYY-MM-DD:YYYY-MM-DD (both included)."
    )
    timezone: TimeZone = Field("UTC", description="IANA time zone, e.g. Europe/Istanbul.")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_weekdays(value)
        return value

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_times(value)
        return value

    @field_validator("dates")
    @classmethod
    def _dates(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_dates(value)
        return value


Matchers = Annotated[
    dict[str, NonEmptyStr],
    Field(
        min_length=1,
        description="Label → glob (project, rule, key, severity); every one must match. "
        "{name} in a glob captures that part (within one / segment) as a label for equal.",
    ),
]


class InhibitSpec(Strict):
    """While an alert matching ``source`` fires, alerts matching ``target`` (with the same
    ``equal`` labels) notify nobody."""

    source: Matchers
    target: Matchers
    equal: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Labels (or {captures}) that must be the same on the source and the target.",
    )

    @field_validator("source", "target")
    @classmethod
    def _matchers(cls, value: dict[str, str]) -> dict[str, str]:
        LabelMatcher.compile(value)  # ValueError says why
        return value


class FlappingSpec(Strict):
    """More than ``max_changes`` state changes within ``window``: the alert is flapping."""

    window: Duration = Field(description="How far back changes are counted, and how long the "
                             "alert must then stay stable to stop flapping.")  # fmt: skip
    max_changes: int = Field(ge=2, le=1000, description="Changes allowed within the window.")


class SourceSpec(Strict):
    url: NonEmptyStr = Field(DEFAULT_URL, description="PxServ base URL.")
    api_key: str | None = Field(None, description="The project's API key, e.g. ${PXSERV_API_KEY}.")
    snapshot: bool = Field(
        True,
        description="On each (re)connect, fetch all values and feed the changed ones as events.",
    )


class RuleOptions(Strict):
    """The rule fields that ``defaults`` may also set."""

    description: str | None = Field(None, description="What the rule watches, for people.")
    where: dict[NonEmptyStr, Condition] | None = Field(
        None, description="Conditions on the latest values of other keys (all must hold)."
    )
    debounce: Duration | None = Field(
        None, description="Wait until a key is quiet this long; evaluate only its last event."
    )
    for_: Duration | None = Field(
        None, alias="for", description="The condition must hold continuously this long."
    )
    clear: Condition | None = Field(
        None, description="Once firing, resolve only when this holds (hysteresis)."
    )
    keep_firing_for: Duration | None = Field(
        None, description="After the resolve condition is met, stay firing this long."
    )
    cooldown: Duration | None = Field(
        None, description="No new firing notification within this long of the last one."
    )
    repeat: Duration | None = Field(
        None, description="Notify again every this long while still firing."
    )
    resolve: bool | None = Field(
        None, description="Also notify when the alert resolves (default false)."
    )
    severity: Severity | None = Field(None, description="info | warning | critical (default).")
    notify: list[NonEmptyStr] | None = Field(
        None, description="Notifier names; `log` always exists (default: [log])."
    )
    title: str | None = Field(None, description="Jinja2 template of the notification title.")
    message: str | None = Field(None, description="Jinja2 template of the notification body.")
    language: Language | None = Field(
        None, description="Language of the built-in title and message: en (default) or tr."
    )
    timezone: TimeZone | None = Field(
        None,
        description="Time zone of the times in the built-in texts, e.g. Europe/Istanbul "
        "(default: the machine's local time).",
    )
    mute_during: list[Name] | None = Field(
        None,
        description="Time windows (of time_windows) during which this rule notifies nobody; "
        "still true when the window ends, it is sent then.",
    )
    only_during: list[Name] | None = Field(
        None,
        description="Time windows outside of which this rule notifies nobody (as mute_during).",
    )
    flapping: FlappingSpec | None = Field(
        None,
        description="Past max_changes state changes within window: one `flapping` notification, "
        "then quiet until stable for the window, then one of the state it settled in.",
    )


class DefaultsSpec(RuleOptions):
    """Values for every rule that does not set the field itself."""

    group: GroupSpec | None = Field(
        None, description="Grouping for every notifier that does not set its own."
    )


class RuleSpec(RuleOptions):
    name: Name = Field(description="Unique name of the rule.")
    key: KeyPattern | None = Field(None, description="The PxServ key this rule watches.")
    keys: list[KeyPattern] | None = Field(
        None,
        description="Glob patterns (* ? [..]) of keys; each matching key has its own state.",
        min_length=1,
    )
    when: Condition = Field(description="The condition that makes the alert fire.")

    @model_validator(mode="after")
    def _one_key_field(self) -> RuleSpec:
        if (self.key is None) == (self.keys is None):
            raise ValueError("give exactly one of key or keys")  # same text as rulefmt's
        return self

    @property
    def is_event_rule(self) -> bool:
        return is_event_condition(self.when)


class RulesFile(Strict):
    """A pxrules rules file."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        title="pxrules rules file",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    project: ProjectName | None = Field(
        None,
        description="The project's name, in every alert document, log line and metric of it "
        "(letters, digits, '.', '_', '-'; up to 64). Default: the file's name without .yaml.",
    )
    source: SourceSpec = Field(
        default_factory=lambda: SourceSpec(), description="Where events come from."
    )
    notifiers: dict[Name, NotifierSpec] = Field(
        default_factory=dict, description="Named delivery targets; `log` always exists."
    )
    defaults: DefaultsSpec = Field(
        default_factory=lambda: DefaultsSpec(), description="Defaults for every rule."
    )
    time_windows: dict[Name, list[TimeIntervalSpec]] = Field(
        default_factory=dict, description="Named time windows for mute_during / only_during."
    )
    inhibit: list[InhibitSpec] = Field(
        default_factory=list,
        description="Alerts that, while firing, keep others from notifying.",
    )
    rules: list[RuleSpec] = Field(description="The rules.")


def is_event_condition(when: Condition) -> bool:
    """Whether a rule with this ``when`` is an event rule (uses changed/changed_by)."""
    return any(when.uses(name) for name in EVENT_CONDITIONS)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the rules file (for yaml-language-server and other editors)."""
    return RulesFile.model_json_schema(by_alias=True)
