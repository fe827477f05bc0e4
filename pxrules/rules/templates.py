"""Sandboxed Jinja2 for titles, messages and pxserv write values.

Undefined names are errors (so ``check`` catches typos); the sandbox refuses access to Python
internals. Event values are data handed in as variables: they are never parsed as templates.

>>> Template("{{ key }} is {{ value }}").render(key="humidity", value="71.5")
'humidity is 71.5'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

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


DEFAULT_TITLE = "{{ rule }} {{ state }}: {{ key }} = {{ value }}"
DEFAULT_MESSAGE = "{{ description or rule }}: {{ key }} is {{ value }} (since {{ since }})"


# The built-in defaults render on every alert of most rules: plain Python, same output as Jinja
# (a test renders both ways and compares). The engine calls these two directly.
def default_title(rule: str, state: str, key: str, value: str | None) -> str:
    """:data:`DEFAULT_TITLE` rendered."""
    return f"{rule} {state}: {key} = {value}"


def default_message(rule: str, description: str, key: str, value: str | None, since: str) -> str:
    """:data:`DEFAULT_MESSAGE` rendered."""
    return f"{description or rule}: {key} is {value} (since {since})"


_FAST: dict[str, Callable[[Mapping[str, Any]], str]] = {
    DEFAULT_TITLE: lambda c: default_title(c["rule"], c["state"], c["key"], c["value"]),
    DEFAULT_MESSAGE: lambda c: default_message(
        c["rule"], c["description"], c["key"], c["value"], c["since"]
    ),
}


class Template:
    """A compiled template; compiling is cached by source text (rules share defaults)."""

    __slots__ = ("_fast", "_template", "names", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._fast = _FAST.get(source)
        try:
            self._template, names = _compile(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {exc.message}") from None
        #: The variables the template reads (a caller may skip computing the others).
        self.names: frozenset[str] = names

    def render(self, **context: Any) -> str:
        return self.render_map(context)

    def render_map(self, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, with the variables in a mapping (no keyword unpacking)."""
        if self._fast is not None:
            try:
                return self._fast(context)
            except KeyError:
                pass  # a name is missing: let Jinja say which
        return self.render_jinja(**context)

    def render_jinja(self, **context: Any) -> str:
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
