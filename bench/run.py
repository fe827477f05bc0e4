"""`make bench`: every benchmark in its own process, then one table with the targets.

Each script also prints its own table; results accumulate in bench/results.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"

STEPS = [
    ["ingest.py", "50000", "5"],
    ["engine_rate.py", "200000"],
    ["engine_vs_hand.py", "200000"],
    ["latency.py", "5000", "100", "500"],
    ["memory.py", "100000"],
    ["replay_rate.py", "1000000"],
    ["check_speed.py", "10000"],
    ["projects.py", "20", "100:1", "300:1", "100:5"],
    ["state_cost.py", "1000", "1000"],
    ["projects.py", "20", "100:1", "300:1", "--daemons=3"],
    ["failover.py", "10", "15", "30"],
]


def main() -> None:
    RESULTS.unlink(missing_ok=True)
    started = time.monotonic()
    for step in STEPS:
        print(f"\n== {' '.join(step)}", flush=True)
        subprocess.run([sys.executable, str(BENCH / step[0]), *step[1:]], check=True)
    r = json.loads(RESULTS.read_text())
    latency_stress = r["latency"]["runs"][-1]
    stress_p99 = latency_stress["added_p99_ms"]
    rows = [
        ("1 ingest: pxrules / bare socket.io", r["ingest"]["ratio"], ">= 1.0", ">="),
        ("1b ingest, same loop on both sides", r["ingest"]["ratio_same_loop"], ">= 0.9", ">="),
        ("2 engine: 10,000 rules / 10 rules", r["engine_rate"]["ratio"], ">= 0.5", ">="),
        ("3 engine / hand-written loop", r["engine_vs_hand"]["ratio"], ">= 0.2", ">="),
        ("4 added p99 latency (ms), 100 alerts/s", r["latency"]["added_p99_ms"], "<= 5", "<="),
        ("4b added p99 latency (ms), 500 alerts/s", stress_p99, "<= 5", "<="),
        ("5 memory per key (bytes)", r["memory"]["bytes_per_key"], "<= 1024", "<="),
        ("6 replay / json.loads, recorded-like", r["replay"]["ratio"], ">= 0.3", ">="),
        ("7 check / yaml.safe_load (×)", r["check"]["ratio"], "<= 5", "<="),
        ("8 p99 ms, 100 projects × 1 alert/s", r["projects"]["runs"][0]["p99_ms"], "<= 50", "<="),
        ("8b same, 3 daemons (a fleet)", r["fleet_capacity"]["runs"][0]["p99_ms"], "<= 50", "<="),
        ("10 failover p99 s, kill -9, TTL 15 s", r["failover"]["kill_p99_s"], "<= 20", "<="),
    ]
    print(f"\n{'benchmark':<40} {'measured':>10} {'target':>9}  holds")
    for name, value, target, op in rows:
        bound = float(target.split()[1])
        holds = value >= bound if op == ">=" else value <= bound
        print(f"{name:<40} {value:>10.3f} {target:>9}  {'yes' if holds else 'NO'}")
    print("beside them, with no target:")
    print(f"{'  6 replay / json.loads, alert storm':<40} {r['replay']['storm']['ratio']:>10.3f}")
    for backend in ("sqlite", "postgresql", "pg-fleet"):
        cost = r["state_cost"][backend]
        print(f"{'  9 bytes per alert, ' + backend:<40} {cost['bytes_per_alert']:>10.0f}")
    for run in r["projects"]["runs"][1:]:
        name = f"  8 p99 ms, {run['projects']} projects × {run['rate_per_project']:g}/s"
        print(f"{name:<40} {run['p99_ms']:>10.3f}")
    for run in r["fleet_capacity"]["runs"][1:]:
        name = f"  8b p99 ms, 3 daemons, {run['projects']} × {run['rate_per_project']:g}/s"
        print(f"{name:<40} {run['p99_ms']:>10.3f}")
    print(f"{'  10 failover p50 s, kill -9':<40} {r['failover']['kill_p50_s']:>10.3f}")
    print(f"{'  10 handover p50 s, SIGTERM':<40} {r['failover']['sigterm_p50_s']:>10.3f}")
    print(f"\n(all benchmarks took {time.monotonic() - started:.0f} s; details in {RESULTS.name})")


if __name__ == "__main__":
    main()
