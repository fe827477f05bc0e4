"""Write N replay records (CONTRACT §5) over K keys: python bench/gen_events.py N [K] > f.jsonl"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta


def main(n: int, keys: int) -> None:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = sys.stdout
    for i in range(n):
        at = (start + timedelta(milliseconds=100 * i)).isoformat(timespec="milliseconds")
        value = f"{rng.uniform(50, 90):.1f}"
        record = {
            "event": "setData",
            "data": {"key": f"sensor-{rng.randrange(keys)}", "value": value},
            "at": at.replace("+00:00", "Z"),
        }
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
