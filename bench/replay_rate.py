"""`pxrules replay` of a 1,000,000-line file vs json.loads of the same lines, in one run.

.venv/bin/python bench/replay_rate.py [LINES]
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save
from gen_events import main as generate

from pxrules.replaying import run_replay

RULES = """
rules:
  - {name: hot, keys: ['sensor-*'], when: {above: 80}, clear: {below: 60}, resolve: true,
     cooldown: 10m}
  - {name: held, keys: ['sensor-*'], when: {above: 70}, for: 2m, resolve: true}
"""


def main(lines: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(RULES)
        with events.open("w") as out:
            stdout, sys.stdout = sys.stdout, out
            try:
                generate(lines, 1000)
            finally:
                sys.stdout = stdout
        start = time.perf_counter()
        with events.open("rb") as handle:
            for raw in handle:
                json.loads(raw)
        loads_time = time.perf_counter() - start
        sink = io.StringIO()
        start = time.perf_counter()
        code = run_replay(rules, events, "text", False, sink, io.StringIO())
        replay_time = time.perf_counter() - start
        assert code == 0
    alerts = sink.getvalue().count("\n")
    print(f"{'':<26} {'lines/s':>12}")
    print(f"{'json.loads per line':<26} {lines / loads_time:>12,.0f}")
    print(f"{'pxrules replay':<26} {lines / replay_time:>12,.0f}   ({alerts:,} alerts)")
    ratio = loads_time / replay_time
    print(f"ratio replay / json.loads: {ratio:.3f} (target >= 0.3)")
    save(
        "replay",
        {
            "lines": lines,
            "loads_per_s": lines / loads_time,
            "replay_per_s": lines / replay_time,
            "ratio": ratio,
            "alerts": alerts,
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
