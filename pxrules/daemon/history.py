"""Each watched key's recent readings, for the status page's charts and
``GET /api/v1/keys/{key}/history``: a bounded ring per key, in memory only.

A point is ``(time, number)``; a reading that is not a number (or a removal) is a gap (NaN).
Both are doubles in one flat array, so a key costs about ``16 × POINTS`` bytes of points plus
some 150 bytes of bookkeeping (``bench/bounds.py`` measures it; docs/console.md has the figure).

>>> h = KeyHistory(points=3)
>>> for t, n in [(1.0, 10.0), (2.0, 11.0), (3.0, None), (4.0, 13.0)]:
...     h.record("t", t, n)
>>> h.record("t", 4.5, 13.0)  # the same reading again (live, then in a snapshot): one point
>>> h.points("t")
[(2.0, 11.0), (3.0, None), (4.0, 13.0)]
"""

from __future__ import annotations

import math
from array import array

from ..events import MAX_KEYS

#: Readings kept per key.
POINTS = 60
#: An equal reading this close to the last one is the same reading seen twice.
SAME_READING = 1.0


class _Ring:
    __slots__ = ("data", "next", "size")

    def __init__(self, points: int) -> None:
        self.data = array("d", bytes(16 * points))
        self.next = 0  # the slot the next point goes to
        self.size = 0


class KeyHistory:
    """The last ``points`` readings of up to ``max_keys`` keys (the oldest key is dropped)."""

    def __init__(self, points: int = POINTS, max_keys: int = MAX_KEYS) -> None:
        self.capacity = points
        self.max_keys = max_keys
        self._rings: dict[str, _Ring] = {}

    def __len__(self) -> int:
        return len(self._rings)

    def __contains__(self, key: object) -> bool:
        return key in self._rings

    def record(self, key: str, at: float, number: float | None) -> None:
        if not self.capacity:
            return
        ring = self._rings.get(key)
        if ring is None:
            if len(self._rings) >= self.max_keys:
                del self._rings[next(iter(self._rings))]  # the key recorded first
            ring = self._rings[key] = _Ring(self.capacity)
        elif ring.size:
            # The same reading seen twice — live and in the snapshot after a (re)connect, which
            # can race — is one point: an equal number within SAME_READING seconds.
            last = 2 * ((ring.next - 1) % self.capacity)
            previous = ring.data[last + 1]
            same = previous == number or (number is None and math.isnan(previous))
            if same and abs(at - ring.data[last]) < SAME_READING:
                return
        slot = 2 * ring.next
        ring.data[slot] = at
        ring.data[slot + 1] = math.nan if number is None else number
        ring.next = (ring.next + 1) % self.capacity
        if ring.size < self.capacity:
            ring.size += 1

    def forget(self, key: str) -> None:
        self._rings.pop(key, None)

    def points(self, key: str) -> list[tuple[float, float | None]]:
        """``(epoch seconds, number or None)``, oldest first."""
        ring = self._rings.get(key)
        if ring is None:
            return []
        first = (ring.next - ring.size) % self.capacity
        out: list[tuple[float, float | None]] = []
        for i in range(ring.size):
            slot = 2 * ((first + i) % self.capacity)
            number = ring.data[slot + 1]
            out.append((ring.data[slot], None if math.isnan(number) else number))
        return out
