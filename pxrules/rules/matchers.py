"""Label matchers of ``inhibit`` entries: a glob per label (``project``, ``rule``, ``key``,
``severity``), where a ``{name}`` in a glob captures that part of the value (within one ``/``
segment) as a label of its own, so ``equal: [gw]`` can compare it across two alerts.

>>> m = LabelMatcher.compile({"rule": "*-stale", "key": "gateway/{gw}/*"})
>>> m.match({"rule": "temp-stale", "key": "gateway/g7/temp", "severity": "warning"})
{'gw': 'g7'}
>>> m.match({"rule": "temp-high", "key": "gateway/g7/temp"}) is None
True
>>> sorted(m.captures)
['gw']
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass

LABELS = ("project", "rule", "key", "severity")
_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _compile(glob: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    parts, names, last = [], [], 0
    for found in _CAPTURE.finditer(glob):
        name = found[1]
        if name in LABELS or name in names:
            raise ValueError(
                f"capture {{{name}}}: "
                + ("a label's own name" if name in LABELS else "given twice in one glob")
            )
        parts.append(fnmatch.translate(glob[last : found.start()]).removeprefix("(?s:")[:-3])
        parts.append(f"(?P<{name}>[^/]+)")
        names.append(name)
        last = found.end()
    parts.append(fnmatch.translate(glob[last:]).removeprefix("(?s:")[:-3])
    return re.compile("(?s:" + "".join(parts) + r")\Z"), tuple(names)


@dataclass(frozen=True)
class LabelMatcher:
    """Every given label must match its glob; :meth:`match` returns the captures."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    captures: frozenset[str]

    @classmethod
    def compile(cls, globs: Mapping[str, str]) -> LabelMatcher:
        """Raises ValueError for an unknown label or a bad capture."""
        patterns: list[tuple[str, re.Pattern[str]]] = []
        captures: set[str] = set()
        for label, glob in globs.items():
            if label not in LABELS:
                raise ValueError(f"{label!r}: a matcher names one of {', '.join(LABELS)}")
            pattern, names = _compile(glob)
            patterns.append((label, pattern))
            captures.update(names)
        return cls(tuple(patterns), frozenset(captures))

    def match(self, labels: Mapping[str, str]) -> dict[str, str] | None:
        captured: dict[str, str] = {}
        for label, pattern in self.patterns:
            found = pattern.match(labels.get(label, ""))
            if found is None:
                return None
            captured.update(found.groupdict())
        return captured
