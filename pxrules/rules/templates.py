"""Sandboxed Jinja2 for titles, messages and pxserv write values.

Undefined names are errors (so ``check`` catches typos); the sandbox refuses access to Python
internals. Event values are data handed in as variables: they are never parsed as templates.

>>> Template("{{ key }} is {{ value }}").render(key="humidity", value="71.5")
'humidity is 71.5'
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: The names a template may use (docs/rules.md, "Templates").
NAMES = (
    "project",
    "rule",
    "description",
    "key",
    "value",
    "number",
    "previous",
    "state",
    "severity",
    "since",
    "at",
    "values",
    "icon",
)

#: Budgets of one render (check renders every template against sample data, so a template
#: over them is a check error, not a stalled daemon).
MAX_TEXT = 100_000  # characters (or items) of any value built by `*`, `**`, `+`
MAX_OUTPUT = 64 * 1024  # characters of a rendered title, message or write value
MAX_RANGE_ITEMS = 100_000  # items from range() in one render, all loops together

_range_budget: ContextVar[list[int]] = ContextVar("pxrules_range_budget")


class _BudgetedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with bounded work: no huge strings from operators, a range()
    budget per render (nested loops included)."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise SecurityError(f"exponent {right} is over the template limit of 1000")
        if operator == "*":
            size = _repeated_size(left, right) or _repeated_size(right, left)
            if size > MAX_TEXT:
                raise SecurityError(f"template builds a value of {size} items (limit {MAX_TEXT})")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | list | tuple) and len(result) > MAX_TEXT:
            raise SecurityError(f"template builds a value over {MAX_TEXT} items")
        return result


def _repeated_size(sequence: Any, times: Any) -> int:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        return len(sequence) * max(times, 0)
    return 0


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= len(items)
        if budget[0] < 0:
            raise SecurityError(f"template loops over more than {MAX_RANGE_ITEMS} range() items")
    return items


_ENV = _BudgetedSandbox(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)
_ENV.globals["range"] = _budgeted_range


def localtime(value: str, fmt: str = "%H:%M:%S", zone: str | None = None) -> str:
    """The ``localtime`` filter: an ISO-8601 time (``since``, ``at``) in the machine's local
    zone, or ``zone``, as ``fmt`` (strftime): ``{{ since | localtime }}`` → ``20:40:19``."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(zone) if zone else None).strftime(fmt)


_ENV.filters["localtime"] = localtime


class TemplateError(ValueError):
    """A template that does not parse, uses an unknown name, or tries to escape the sandbox."""


class _SampleValues(dict[str, str]):
    """``values`` in check's sample render: any key has a sample value."""

    def __missing__(self, key: str) -> str:
        return "1"


SAMPLE: Mapping[str, Any] = {
    "project": "sample-project",
    "rule": "sample-rule",
    "description": "a sample rule",
    "key": "humidity",
    "value": "71.5",
    "number": 71.5,
    "previous": "69.0",
    "state": "firing",
    "severity": "warning",
    "since": "2025-03-31T17:40:19.653Z",
    "at": "2025-03-31T17:42:19.653Z",
    "values": _SampleValues(humidity="71.5"),
    "icon": "hum",
}


#: What `pxserv` write templates see: the fields of the alert document (docs/reference.md).
DOCUMENT_SAMPLE: Mapping[str, Any] = {
    "version": "1",
    "id": "0" * 32,
    "fingerprint": "0" * 16,
    "title": "sample-rule firing",
    "message": "a sample message",
    **{k: v for k, v in SAMPLE.items() if k not in ("description", "values", "icon")},
}


@lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[jinja2.Template, frozenset[str]]:
    names = frozenset(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))
    return _ENV.from_string(source), names


class Template:
    """A compiled template; compiling is cached by source text (rules share defaults)."""

    __slots__ = ("_template", "names", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._template, names = _compile(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {exc.message}") from None
        #: The variables the template reads (a caller may skip computing the others).
        self.names: frozenset[str] = names

    def render(self, **context: Any) -> str:
        return self.render_map(context)

    def render_map(self, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, with the variables in a mapping."""
        token = _range_budget.set([MAX_RANGE_ITEMS])
        try:
            text = self._template.render(**context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template uses an undefined name: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template refused by the sandbox: {exc}") from None
        except Exception as exc:
            raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None
        finally:
            _range_budget.reset(token)
        if len(text) > MAX_OUTPUT:
            raise TemplateError(f"template output is over {MAX_OUTPUT} characters")
        return text

    def check(self, sample: Mapping[str, Any] = SAMPLE) -> None:
        """Render against sample data: raise :class:`TemplateError` on any problem."""
        self.render(**sample)
