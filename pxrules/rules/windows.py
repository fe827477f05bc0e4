"""Named time windows (``time_windows:``) for ``mute_during`` / ``only_during``: weekdays, times
of day and dates, in an IANA time zone.

A window is a list of intervals; it is active when any interval is. An interval is active when
every field it gives matches: ``weekdays`` (``mon``, ``mon-fri``, ``sat``…), ``times``
(``"22:00-06:00"`` crosses midnight, and its hours after midnight belong to the day it began
on: ``weekdays: [fri]`` with it covers Saturday 02:00; the end is excluded), ``dates``
(``2025-12-31`` or a range ``2025-12-24:2025-12-26``, both ends included), in ``timezone``
(default UTC).

>>> from datetime import datetime, UTC
>>> night = TimeWindow("night", [Interval(times=[(1320, 360)], timezone="Europe/Istanbul")])
>>> night.active(datetime(2025, 1, 1, 20, 0, tzinfo=UTC))   # 23:00 in Istanbul
True
>>> night.next_change(datetime(2025, 1, 1, 20, 0, tzinfo=UTC))  # 06:00 Istanbul, 03:00 UTC
datetime.datetime(2025, 1, 2, 3, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
#: How far ahead :meth:`TimeWindow.next_change` looks (a longer steady span is re-checked then).
HORIZON_DAYS = 8


def parse_weekdays(items: list[str]) -> frozenset[int]:
    """``["mon-fri", "sun"]`` → ``{0, 1, 2, 3, 4, 6}``; raises ValueError."""
    days: set[int] = set()
    for item in items:
        first, _, last = str(item).strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"weekday {item!r}: use mon … sun, or a range such as mon-fri")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def parse_times(items: list[str]) -> list[tuple[int, int]]:
    """``["08:00-22:00"]`` → ``[(480, 1320)]`` (minutes of the day); raises ValueError."""
    spans = []
    for item in items:
        start, sep, end = str(item).partition("-")
        a, b = _TIME.fullmatch(start.strip()), _TIME.fullmatch(end.strip())
        if not sep or a is None or b is None:
            raise ValueError(f"times {item!r}: use HH:MM-HH:MM, e.g. 08:00-22:00 or 22:00-06:00")
        first, last = int(a[1]) * 60 + int(a[2]), int(b[1]) * 60 + int(b[2])
        if first > 1440 or last > 1440 or first == last:
            raise ValueError(f"times {item!r}: an empty or impossible span")
        spans.append((first, last))
    return spans


def parse_dates(items: list[str]) -> list[tuple[date, date]]:
    """``["2025-12-31", "2025-12-24:2025-12-26"]`` → ranges (both ends included)."""
    ranges = []
    for item in items:
        first, _, last = str(item).partition(":")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if last else a
        except ValueError:
            raise ValueError(
                f"dates {item!r}: use YYYY-MM-DD or a range YYYY-MM-DD:YYYY-MM-DD"
            ) from None
        if b < a:
            raise ValueError(f"dates {item!r}: the range ends before it starts")
        ranges.append((a, b))
    return ranges


@dataclass(frozen=True)
class Interval:
    """One interval of a window; an empty field matches everything."""

    weekdays: frozenset[int] = frozenset()
    times: list[tuple[int, int]] = field(default_factory=list)
    dates: list[tuple[date, date]] = field(default_factory=list)
    timezone: str = "UTC"

    def active(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        day, minute = local.date(), local.hour * 60 + local.minute
        if not self.times:
            return self._day(day)
        for a, b in self.times:
            if a < b:
                if a <= minute < b and self._day(day):
                    return True
            elif (minute >= a and self._day(day)) or (
                minute < b and self._day(day - timedelta(days=1))
            ):
                return True  # past midnight, a span belongs to the day it began on
        return False

    def _day(self, day: date) -> bool:
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        return not self.dates or any(a <= day <= b for a, b in self.dates)

    def boundaries(self, start: datetime, days: int) -> list[datetime]:
        """The instants from ``start``'s day on when this interval may begin or end."""
        zone = ZoneInfo(self.timezone)
        local_day = start.astimezone(zone).date()
        minutes = sorted({0, *(m % 1440 for span in self.times for m in span)})
        found = []
        for offset in range(days + 1):
            day = local_day + timedelta(days=offset)
            for minute in minutes:
                moment = datetime.combine(day, time(minute // 60, minute % 60), zone)
                found.append(moment.astimezone(UTC))
        return found


@dataclass(frozen=True)
class TimeWindow:
    name: str
    intervals: list[Interval]

    def active(self, at: datetime) -> bool:
        return any(interval.active(at) for interval in self.intervals)

    def next_change(self, at: datetime) -> datetime:
        """The first instant after ``at`` when :meth:`active` changes; if it does not change
        within HORIZON_DAYS, that horizon (the caller looks again then)."""
        now = self.active(at)
        candidates = sorted(
            {m for interval in self.intervals for m in interval.boundaries(at, HORIZON_DAYS)}
        )
        for moment in candidates:
            if moment > at and self.active(moment) != now:
                return moment
        return at + timedelta(days=HORIZON_DAYS)
