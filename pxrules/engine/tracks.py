"""What the engine remembers: the latest value of each key and one track per rule and key.

>>> track = AlertTrack()
>>> track.phase, track.timers
(<Phase.INACTIVE: 'inactive'>, {})
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..rules.conditions import Reading

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class Phase(enum.StrEnum):
    """Prometheus' alert states: ``inactive → pending → firing → inactive``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


# Module-level names: an enum member lookup costs several times a global on the hot path.
INACTIVE, PENDING, FIRING = Phase.INACTIVE, Phase.PENDING, Phase.FIRING


@dataclass(slots=True)
class KeyValue(Reading):
    """The latest known value of one key, shared by every rule.

    It is a :class:`Reading` (``previous`` is the value before the latest one), so rules whose
    conditions do not look at clocks read it directly; ``now`` stays unset here.
    """

    icon: str | None = None


@dataclass(slots=True)
class AlertTrack:
    """The state of one rule for one key; only kept once the rule has something to remember
    (a transition, a timer, a stale clock, a past alert), so idle keys cost no track."""

    phase: Phase = INACTIVE
    since: datetime | None = None  # when the condition started holding (episode start)
    last_fire_notice: datetime | None = None  # cooldown counts from here
    notified: bool = False  # receivers were told it fires (and not yet told it resolved)
    owed: bool = False  # a silence held back a notification that goes out when it ends
    changes: list[datetime] | None = None  # recent state changes (rules with ``flapping``)
    flapping: bool = False  # told "flapping"; quiet until stable for the window
    last_notice: datetime | None = None  # repeat counts from here
    clearing_since: datetime | None = None  # keep_firing_for countdown
    seq: int = 0
    fingerprint: str = ""  # computed at the first alert
    id_base: str = ""  # the first half of its alerts' ids (alerts.alert_id), likewise
    held_due: datetime | None = None  # debounce: evaluate at this time
    stale_origin: datetime | None = None  # stale clock start when the key was never set
    timers: dict[str, int] = field(default_factory=dict)  # timer name → token of the live entry


@dataclass
class EngineStats:
    """The engine's counters; :meth:`metrics` exports every one of them."""

    events: int = 0
    evaluations: int = 0
    unknown: int = 0
    suppressed: int = 0  # held back by cooldown
    held: Counter[str] = field(default_factory=Counter)  # held back, by reason ("silenced")
    errors: int = 0
    evicted: int = 0  # keys forgotten over the key cap
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, state)

    def metrics(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        yield CounterMetricFamily(
            "pxrules_engine_events", "Events the engine evaluated", self.events
        )
        yield CounterMetricFamily("pxrules_rule_evaluations", "Rule evaluations", self.evaluations)
        yield CounterMetricFamily(
            "pxrules_unknown_evaluations",
            "Evaluations skipped as unknown (non-numeric, removed)",
            self.unknown,
        )
        suppressed = CounterMetricFamily(
            "pxrules_suppressed_notifications",
            "Notifications held back, by reason (cooldown, silenced, inhibited, muted, flapping)",
            labels=["reason"],
        )
        suppressed.add_metric(["cooldown"], self.suppressed)
        for reason in ("silenced", "inhibited", "muted", "flapping"):
            suppressed.add_metric([reason], self.held[reason])
        yield suppressed
        yield CounterMetricFamily("pxrules_rule_errors", "Rule or template failures", self.errors)
        yield CounterMetricFamily(
            "pxrules_evicted_keys",
            "Keys forgotten because more keys than the cap were written",
            self.evicted,
        )
        alerts = CounterMetricFamily(
            "pxrules_alerts",
            "Alert notifications emitted, by rule and state",
            labels=["rule", "state"],
        )
        for (rule, state), count in self.alerts.items():
            alerts.add_metric([rule, state], count)
        yield alerts
