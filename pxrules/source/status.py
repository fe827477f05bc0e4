"""What the source tells about itself: its connection state and its counters."""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from reactivex.subject import BehaviorSubject

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """What the source is doing now; ``reason`` says why when it is not connected."""

    state: ConnectionState
    since: datetime
    reason: str | None = None
    failures: int = 0
    reconnects: int = 0


@dataclass
class SourceStats:
    """The source's counters; :meth:`metrics` exports every one of them."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (origin, kind) → count
    malformed: Counter[str] = field(default_factory=Counter)
    subscriber_errors: int = 0
    snapshots: int = 0
    snapshot_failures: int = 0
    reconnects: int = 0
    freezes: int = 0  # times the watchdog found the process had not run for a while
    connected: bool = False
    last_event_monotonic: float | None = None

    def metrics(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        events = CounterMetricFamily(
            "pxrules_events_received",
            "Events received, by origin and kind",
            labels=["origin", "kind"],
        )
        for (origin, kind), count in self.events.items():
            events.add_metric([origin, kind], count)
        yield events
        invalid = CounterMetricFamily(
            "pxrules_invalid_events", "Malformed events skipped, by reason", labels=["reason"]
        )
        for reason, count in self.malformed.items():
            invalid.add_metric([reason], count)
        yield invalid
        yield CounterMetricFamily(
            "pxrules_subscriber_errors",
            "Exceptions raised by subscribers of the event stream",
            self.subscriber_errors,
        )
        yield CounterMetricFamily("pxrules_snapshots", "Snapshots (getAll) applied", self.snapshots)
        yield CounterMetricFamily(
            "pxrules_freezes",
            "Times the process had not run for seconds (stopped, or the machine paused)",
            self.freezes,
        )
        yield CounterMetricFamily(
            "pxrules_snapshot_failures",
            "Snapshot (getAll) attempts that failed",
            self.snapshot_failures,
        )
        yield CounterMetricFamily("pxrules_reconnects", "Reconnections to PxServ", self.reconnects)
        yield GaugeMetricFamily(
            "pxrules_connected", "1 while connected to PxServ", 1 if self.connected else 0
        )
        last = self.last_event_monotonic
        since = time.monotonic() - last if last is not None else float("nan")
        yield GaugeMetricFamily(
            "pxrules_seconds_since_last_event", "Seconds since the last event", since
        )


class StatusBoard:
    """The current :class:`ConnectionStatus`, replayed to each new subscriber of ``subject``."""

    def __init__(self, clock: Callable[[], datetime], stats: SourceStats) -> None:
        self._clock = clock
        self._stats = stats
        self.subject: BehaviorSubject[ConnectionStatus] = BehaviorSubject(
            ConnectionStatus(ConnectionState.CONNECTING, clock())
        )

    @property
    def current(self) -> ConnectionStatus:
        return self.subject.value

    def set(
        self,
        state: ConnectionState,
        reason: str | None = None,
        failures: int = 0,
        reconnects: int = 0,
    ) -> None:
        """Publish a new status unless it says nothing new."""
        current = self.subject.value
        if (current.state, current.reason) == (state, reason) and current.failures == failures:
            return
        self._stats.connected = state is ConnectionState.CONNECTED
        self.subject.on_next(ConnectionStatus(state, self._clock(), reason, failures, reconnects))
