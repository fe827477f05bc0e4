"""Sandboxed Jinja2 for titles, messages and pxserv write values.

Undefined names are errors (so ``check`` catches typos); the sandbox refuses access to Python
internals. Event values are data handed in as variables: they are never parsed as templates.

>>> Template("{{ key }} is {{ value }}").render(key="humidity", value="71.5")
'humidity is 71.5'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: The names a template may use (docs/rules.md, "Templates").
NAMES = (
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

_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)


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
        try:
            return self._template.render(**context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"template uses an undefined name: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template refused by the sandbox: {exc}") from None
        except Exception as exc:
            raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None

    def check(self, sample: Mapping[str, Any] = SAMPLE) -> None:
        """Render against sample data: raise :class:`TemplateError` on any problem."""
        self.render(**sample)
