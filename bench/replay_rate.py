"""`pxrules replay` of a 1,000,000-line file vs json.loads of the same lines, in one run.

Two files of the same size and rules: recorded-like readings (each sensor drifts by small
steps, so thresholds are crossed now and then) and an alert storm (every reading random, so
about 0.44 alerts per line). The target is judged on the recorded-like file; the storm shows
the cost of alerts.

    .venv/bin/python bench/replay_rate.py [LINES] [ROUNDS]
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, save
from gen_events import main as generate

from pxrules.cli.replay import run_replay

RULES = """
rules:
  - {name: hot, keys: ['sensor-*'], when: {above: 80}, clear: {below: 60}, resolve: true,
     cooldown: 10m}
  - {name: held, keys: ['sensor-*'], when: {above: 70}, for: 2m, resolve: true}
"""


def measure(tmp: Path, lines: int, shape: str, rounds: int) -> dict[str, float]:
    events = tmp / f"{shape}.jsonl"
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    with events.open("w") as out:
        stdout, sys.stdout = sys.stdout, out
        try:
            generate(lines, 1000, shape)
        finally:
            sys.stdout = stdout

    def loads_all() -> None:
        with events.open("rb") as handle:
            for raw in handle:
                json.loads(raw)

    def replay() -> str:
        sink = io.StringIO()
        assert run_replay(rules, events, "text", False, sink, io.StringIO()) == 0
        return sink.getvalue()

    best, got = interleaved({"loads": loads_all, "replay": replay}, rounds)
    events.unlink()
    return {
        "lines": lines,
        "loads_per_s": lines / best["loads"],
        "replay_per_s": lines / best["replay"],
        "ratio": best["loads"] / best["replay"],
        "alerts": got["replay"].count("\n"),
    }


def main(lines: int, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        walk = measure(Path(tmp), lines, "walk", rounds)
        storm = measure(Path(tmp), lines, "noise", rounds)
    print(f"{'file':<34} {'json.loads/s':>13} {'replay/s':>10} {'alerts':>9} {'ratio':>6}")
    for name, r in (
        ("recorded-like (drifting readings)", walk),
        ("alert storm (random readings)", storm),
    ):
        print(
            f"{name:<34} {r['loads_per_s']:>13,.0f} {r['replay_per_s']:>10,.0f}"
            f" {r['alerts']:>9,.0f} {r['ratio']:>6.3f}"
        )
    print(f"best of {rounds} interleaved rounds each; target >= 0.3 on the recorded-like file")
    save("replay", {**walk, "storm": storm})


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
