"""Durations: ``"500ms"``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"``, or a number of seconds.

>>> parse_duration("1h30m"), parse_duration(90), format_duration(5400.0)
(5400.0, 90.0, '1h30m')
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", re.ASCII)
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+", re.ASCII)
_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)

EXAMPLES = "500ms, 90s, 5m, 1h30m, 2d or a number of seconds"


class DurationError(ValueError):
    """A value that is not a positive duration."""


def parse_duration(value: object) -> float:
    """Seconds denoted by ``value``; raise :class:`DurationError` unless positive and finite."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration ({EXAMPLES}), got a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        else:
            raise DurationError(f"invalid duration {value!r:.40}: use {EXAMPLES}")
    else:
        raise DurationError(f"expected a duration ({EXAMPLES}), got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise DurationError(f"duration must be positive, got {value!r:.40}")
    if seconds > 10 * 365 * 86400:
        raise DurationError(f"duration {value!r:.40} is longer than ten years")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest unit string for ``seconds`` (``5400`` → ``"1h30m"``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts = []
    remaining = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)
