"""The built-in title and message of an alert, in English or Turkish, with times in one zone.

A rule without its own ``title``/``message`` gets these. They say what happened in words that
fit the case — a threshold firing, a resolve (with how long it fired), an event rule's change,
a silent sensor — and show times in the rule's ``timezone`` (default: the machine's local
zone) with the offset, the zone the log's own timestamps use.

>>> from datetime import datetime, UTC
>>> since = datetime(2025, 3, 31, 17, 40, 19, tzinfo=UTC)
>>> at = datetime(2025, 3, 31, 17, 43, 39, tzinfo=UTC)
>>> ist = ZoneInfo("Europe/Istanbul")
>>> firing = Case("humid", "", "humidity", "75", None, "firing", since, at)
>>> title(firing, "en"), message(firing, "en", ist)
('humid firing: humidity = 75', 'humidity is 75 (since 2025-03-31 20:40:19+03:00)')
>>> resolved = Case("humid", "Too humid", "humidity", "60", "75", "resolved", since, at)
>>> message(resolved, "en", ist)
'Too humid: humidity is 60 now; it was firing from 2025-03-31 20:40:19+03:00 for 3m20s'
>>> message(resolved, "tr", ist)
'Too humid: humidity şimdi 60; 2025-03-31 20:40:19+03:00 itibarıyla 3m20s boyunca alarmdaydı'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from ..rules.durations import format_duration

__all__ = ["Case", "ZoneInfo", "local_time", "message", "title"]


@dataclass(slots=True)
class Case:
    """What the texts of one notification are about."""

    rule: str
    description: str
    key: str
    value: str | None
    previous: str | None
    state: str  # firing | resolved | flapping
    since: datetime
    at: datetime
    event_rule: bool = False
    stale_for: float | None = None  # the rule watches for silence this long
    flapping: tuple[int, float] | None = None  # (changes, window seconds) of a flapping alert


_LOCAL: dict[tuple[int, tzinfo | None], str] = {}


def local_time(moment: datetime, zone: tzinfo | None = None) -> str:
    """``2025-03-31 20:40:19+03:00``: to the second, in ``zone`` (default: local), with the
    offset. Cached to the second (the same instants recur across alerts)."""
    cache_key = (int(moment.timestamp()), zone)
    text = _LOCAL.get(cache_key)
    if text is None:
        if len(_LOCAL) > 4096:
            _LOCAL.clear()
        shown = moment.astimezone(zone) if zone is not None else moment.astimezone()
        text = _LOCAL[cache_key] = shown.isoformat(sep=" ", timespec="seconds")
    return text


def _lasted(c: Case) -> str:
    """How long it fired: whole seconds (milliseconds only below one second)."""
    seconds = (c.at - c.since).total_seconds()
    return format_duration(round(seconds) if seconds >= 1 else max(seconds, 0.001))


#: The state word of a level rule's title, per language.
_STATE_WORDS = {
    "en": {"firing": "firing", "resolved": "resolved", "flapping": "flapping"},
    "tr": {"firing": "alarm", "resolved": "düzeldi", "flapping": "kararsız"},
}

#: One phrase per case and language; the fields are those of :func:`message`.
_PHRASES = {
    "en": {
        "removed": "{key} was removed",
        "changed": "{key} changed from {previous} to {value}",
        "firing": "{key} is {value} (since {since})",
        "resolved": "{key} is {value} now; it was firing from {since} for {lasted}",
        "silent": "no reading from {key} for {silent} (last: {value}); silent since {since}",
        "back": "{key} reports again: {value}; it was silent from {since} for {lasted}",
        "flapping": (
            "{key} is flapping: {changes} state changes within {window} (now {value}); "
            "quiet until it is stable for {window}"
        ),
    },
    "tr": {
        "removed": "{key} silindi",
        "changed": "{key} {previous} değerinden {value} değerine değişti",
        "firing": "{key} değeri {value} ({since} itibarıyla)",
        "resolved": "{key} şimdi {value}; {since} itibarıyla {lasted} boyunca alarmdaydı",
        "silent": (
            "{key} için {silent} boyunca veri gelmedi (son değer: {value}); {since} itibarıyla"
        ),
        "back": "{key} yeniden veri gönderiyor: {value}; {since} itibarıyla {lasted} sessizdi",
        "flapping": (
            "{key} kararsız: {window} içinde {changes} kez durum değiştirdi (şimdi {value}); "
            "{window} boyunca kararlı kalana dek bildirim yok"
        ),
    },
}


def title(case: Case, language: str) -> str:
    if case.event_rule:
        return f"{case.rule}: {case.key} = {case.value}"
    return f"{case.rule} {_STATE_WORDS[language][case.state]}: {case.key} = {case.value}"


def message(case: Case, language: str, zone: tzinfo | None = None) -> str:
    c = case
    if c.value is None and c.state == "firing" and not c.stale_for:
        body = _PHRASES[language]["removed"].format(key=c.key)
    elif c.event_rule:  # changed / changed_by hold only when there is a previous value
        body = _PHRASES[language]["changed"].format(key=c.key, previous=c.previous, value=c.value)
    elif c.state == "flapping" and c.flapping is not None:
        changes, window = c.flapping
        body = _PHRASES[language]["flapping"].format(
            key=c.key, value=c.value, changes=changes, window=format_duration(window)
        )
    else:
        resolved = c.state == "resolved"
        kind = ("back" if resolved else "silent") if c.stale_for else c.state
        body = _PHRASES[language][kind].format(
            key=c.key,
            value=c.value,
            since=local_time(c.since, zone),
            lasted=_lasted(c) if resolved else "",
            silent=format_duration(c.stale_for) if c.stale_for else "",
        )
    return f"{c.description}: {body}" if c.description else body
