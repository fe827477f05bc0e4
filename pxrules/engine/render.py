"""Turning a rule's transition into an :class:`~pxrules.alerts.Alert`: ids, title, message.

A rule without its own title or message gets the built-in ones (:mod:`.texts`, plain Python);
a rule's own templates get the names of docs/rules.md, with times formatted only when a
template reads them. A template that fails at run time still lets the alert go out, with a
plain text that says what fired.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ..alerts import Alert, AlertState, alert_id_base, fingerprint, new_alert
from ..events import format_time
from ..rules.templates import Template, TemplateError
from . import texts
from .compiled import CompiledRule
from .texts import Case
from .tracks import AlertTrack, EngineStats, KeyValue

log = logging.getLogger("pxrules.rules")


class ValuesView(Mapping[str, str]):
    """``values`` in templates: the latest value of every key, read-only and without copying."""

    def __init__(self, values: dict[str, KeyValue]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> str:
        entry = self._values[key]
        if entry.value is None:
            raise KeyError(key)
        return entry.value

    def __iter__(self) -> Iterator[str]:
        return (k for k, v in self._values.items() if v.value is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._values.values() if v.value is not None)


class AlertRenderer:
    """Builds the alert of one notification of a rule and key."""

    def __init__(
        self, values: dict[str, KeyValue], id_salt: str, stats: EngineStats, project: str = ""
    ) -> None:
        self.project = project
        self._values = values
        self._values_view = ValuesView(values)
        self.id_salt = id_salt
        self._stats = stats

    def alert(
        self,
        rule: CompiledRule,
        key: str,
        track: AlertTrack,
        state: AlertState,
        at: datetime,
        since: datetime,
    ) -> Alert:
        """The next notification of ``track`` (its sequence number moves on by one)."""
        d = rule.definition
        entry = self._values.get(key)
        if entry is not None:
            value, number, previous = entry.value, entry.number, entry.previous
        else:
            value = number = previous = None
        track.seq += 1
        fp, id_base = track.fingerprint, track.id_base
        if not id_base:
            fp = track.fingerprint = fingerprint(d.name, key)
            id_base = track.id_base = alert_id_base(fp, self.id_salt)
        if d.title is None or d.message is None:
            flapping = None
            if state == "flapping" and d.flapping is not None:
                flapping = (len(track.changes or ()), d.flapping.window)
            case = Case(
                d.name, d.description or "", key, value, previous, state, since, at,
                rule.event_rule, rule.stale_for, flapping,
            )  # fmt: skip
            title = texts.title(case, d.language) if d.title is None else ""
            message = texts.message(case, d.language, rule.zone) if d.message is None else ""
        if d.title is not None or d.message is not None:
            context = self._context(rule, key, entry, state, since, at)
            if d.title is not None:
                title = self._render(rule, d.title, "title", context)
            if d.message is not None:
                message = self._render(rule, d.message, "message", context)
        return new_alert(
            f"{id_base}{track.seq:016x}",  # alerts.alert_id, without hashing per alert
            fp,
            d.name,
            key,
            state,
            d.severity,
            value,
            number,
            previous,
            since,
            at,
            title,
            message,
            self.project,
        )

    def _context(
        self,
        rule: CompiledRule,
        key: str,
        entry: KeyValue | None,
        state: AlertState,
        since: datetime,
        at: datetime,
    ) -> dict[str, Any]:
        d = rule.definition
        renders = rule.renders  # times are formatted only for templates that show them
        return {
            "project": self.project,
            "rule": d.name,
            "description": d.description or "",
            "key": key,
            "value": entry.value if entry else None,
            "number": entry.number if entry else None,
            "previous": entry.previous if entry else None,
            "state": state,
            "severity": d.severity,
            "since": format_time(since) if "since" in renders else "",
            "at": format_time(at) if "at" in renders else "",
            "values": self._values_view,
            "icon": entry.icon if entry else None,
        }

    def _render(
        self, rule: CompiledRule, template: Template, which: str, context: dict[str, Any]
    ) -> str:
        try:
            return template.render_map(context)
        except TemplateError as exc:
            name = rule.definition.name
            self._stats.errors += 1
            log.error("rule %r: %s template failed: %s", name, which, exc)
            return f"{name} {context['state']}: {context['key']} = {context['value']}"
