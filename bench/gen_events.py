"""Write N replay records (docs/reference.md) over K keys.

    python bench/gen_events.py N [K] [walk|noise] > f.jsonl

``walk`` (recorded-like): each sensor drifts from its last reading by a small random step, as
real readings do, so thresholds are crossed now and then. ``noise`` (an alert storm): every
reading is drawn anew between 50 and 90, so almost every other reading crosses a threshold.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta


def main(n: int, keys: int, shape: str = "noise") -> None:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = sys.stdout
    level = [rng.uniform(55.0, 75.0) for _ in range(keys)]
    for i in range(n):
        at = (start + timedelta(milliseconds=100 * i)).isoformat(timespec="milliseconds")
        k = rng.randrange(keys)
        if shape == "walk":
            level[k] = min(100.0, max(40.0, level[k] + rng.gauss(0.0, 0.5)))
            value = f"{level[k]:.1f}"
        else:
            value = f"{rng.uniform(50, 90):.1f}"
        record = {
            "event": "setData",
            "data": {"key": f"sensor-{k}", "value": value},
            "at": at.replace("+00:00", "Z"),
        }
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(
        int(sys.argv[1]),
        int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
        sys.argv[3] if len(sys.argv) > 3 else "noise",
    )
