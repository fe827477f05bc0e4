"""Who gets an alert: each notifier of its rule, each target of that notifier, one outbox item
apiece. The same function routes for ``pxrules run`` and for ``pxrules replay --send``.

>>> from pxrules.alerts import Alert
>>> from datetime import datetime, UTC
>>> t = datetime(2025, 1, 1, tzinfo=UTC)
>>> alert = Alert("id1", "fp", "hot", "t", "firing", "warning", "31", 31.0, None, t, t, "T", "M")
>>> items = route(alert, {"hot": ("phone",)}, {"phone": ["phone#0", "phone#1"]}.get, now=0.0)
>>> [(i.target, i.notifier) for i in items]
[('phone#0', 'phone'), ('phone#1', 'phone')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..alerts import Alert
from ..rules import Config
from .store import OutboxItem

#: Rule name → the notifiers it names (``log`` for a rule the map does not know).
NotifyMap = Mapping[str, Sequence[str]]


def notify_map(config: Config) -> dict[str, tuple[str, ...]]:
    """Each rule's notifiers, computed once per (re)load rather than per alert."""
    return {rule.name: rule.notify for rule in config.rules}


def event_rules(config: Config) -> set[str]:
    """The names of the event rules (their matches are changes, not alerts that start firing)."""
    return {rule.name for rule in config.rules if rule.is_event_rule}


def route(
    alert: Alert,
    notify: NotifyMap,
    targets_of: Callable[[str], Sequence[str] | None],
    now: float,
    *,
    buffered: Callable[[str], bool] | None = None,
) -> list[OutboxItem]:
    """The outbox items of one alert: one per target of each notifier of its rule (but the
    ``buffered`` notifiers, whose notifications wait in groups or for time windows)."""
    document = alert.to_document()
    return [
        OutboxItem(alert.id, target, notifier, document, now, 0, now)
        for notifier in notify.get(alert.rule, ("log",))
        if buffered is None or not buffered(notifier)
        for target in targets_of(notifier) or ()
    ]
