"""What the state costs per alert and per checkpoint: SQLite file vs PostgreSQL, side by side.

    .venv/bin/python bench/state_cost.py [ALERTS] [KEYS]

Writes ALERTS alerts the way the daemon does (each alert's outbox row and track in one
transaction, then its delivery marked), then checkpoints of KEYS changed values, through the
SQLite store and through the PostgreSQL store (a local server of pgserver's, on a Unix socket),
and reports per alert and per checkpoint: transactions, and bytes written — SQLite's bytes
written to its file and WAL (the process's write I/O), PostgreSQL's WAL bytes (what it writes
and would replicate). Times are wall time on this shared machine: ratios, not promises.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save

from pxrules.daemon.pgstore import Fence, Member, PgStore
from pxrules.daemon.store import AttemptRecord, Store

DOC = {"version": "1", "id": "x" * 32, "project": "bench", "rule": "hot", "key": "k",
       "state": "firing", "severity": "warning", "value": "71.5", "number": 71.5,
       "title": "hot firing: k = 71.5", "message": "k is 71.5 (above 70)"}  # fmt: skip
TRACK = {"phase": "firing", "since": 1.0, "notified": True, "seq": 1}


def written_bytes() -> int:
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("wchar")).split()[1])


def scoped(store: Any, fence: Any = None) -> Any:
    """The bench project's view (in a fleet: fenced, as every write of a member is)."""
    view = store.scoped("bench" if fence is None else "fenced")
    view.fence = fence
    return view


def write_alerts(store: Any, alerts: int, fence: Any = None) -> float:
    """As the daemon does: each alert's outbox row and track in one transaction, then its
    delivery marked in another. Seconds per alert."""
    scoped_ = scoped(store, fence)
    started = time.perf_counter()
    for n in range(alerts):
        ident = f"{n:032x}"
        scoped_.record_alerts([(ident, "hook", "hook", {**DOC, "id": ident})],
                              [("hot", f"k/{n}", TRACK)], 1.0)  # fmt: skip
        scoped_.record_attempts([AttemptRecord(ident, "hook", "delivered", "HTTP 200",
                                               "delivered", 1, 1.0, 1.0)])  # fmt: skip
    return (time.perf_counter() - started) / alerts


def write_checkpoints(store: Any, keys: int, rounds: int, fence: Any = None) -> float:
    """``rounds`` incremental checkpoints of ``keys`` changed values. Seconds per checkpoint."""
    scoped_ = scoped(store, fence)
    started = time.perf_counter()
    for r in range(rounds):
        values = {f"k/{i}": [f"{i}.{r}", None, False, 1.0, None] for i in range(keys)}
        scoped_.checkpoint({"values": values, "tracks": {}}, full=False)
    return (time.perf_counter() - started) / rounds


ROUNDS = 10


def sqlite(alerts: int, keys: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s.db")
        before = written_bytes()
        alert_s = write_alerts(store, alerts)
        middle = written_bytes()
        checkpoint_s = write_checkpoints(store, keys, ROUNDS)
        after = written_bytes()
        store.close()
    return {"alert_ms": alert_s * 1000, "checkpoint_ms": checkpoint_s * 1000,
            "transactions_per_alert": 2.0, "bytes_per_alert": (middle - before) / alerts,
            "bytes_per_checkpoint": (after - middle) / ROUNDS}  # fmt: skip


def postgres(alerts: int, keys: int, fenced: bool = False) -> dict[str, float]:
    import pgserver
    import psycopg

    folder = os.path.join(tempfile.gettempdir(), f"pxrules-bench-pg-{uuid.uuid4().hex[:8]}")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        url = server.get_uri()

        def wal_and_xid() -> tuple[int, int]:
            """WAL position, and the next transaction id (each writing transaction takes one;
            asking takes one too)."""
            with psycopg.connect(url, autocommit=True) as db:
                row = db.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, "
                                 "txid_current()").fetchone()  # fmt: skip
            assert row is not None
            return int(row[0]), int(row[1])

        store = PgStore.open(url)
        fence = None
        if fenced:  # a member of a fleet holding the project's lease: every write checks it
            tick = store.fleet_tick(Member("bench", "bench", 1, "bench"), 3600, ["fenced"], {})
            fence = Fence("bench", tick.acquired[0][1])
        wal0, xid0 = wal_and_xid()
        alert_s = write_alerts(store, alerts, fence)
        wal1, xid1 = wal_and_xid()
        checkpoint_s = write_checkpoints(store, keys, ROUNDS, fence)
        wal2, _ = wal_and_xid()
        store.close()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return {"alert_ms": alert_s * 1000, "checkpoint_ms": checkpoint_s * 1000,
            "transactions_per_alert": (xid1 - xid0 - 1) / alerts,
            "bytes_per_alert": (wal1 - wal0) / alerts,
            "bytes_per_checkpoint": (wal2 - wal1) / ROUNDS}  # fmt: skip


def main(alerts: int, keys: int) -> None:
    rows = {"sqlite": sqlite(alerts, keys), "postgresql": postgres(alerts, keys),
            "pg-fleet": postgres(alerts, keys, fenced=True)}  # fmt: skip
    print(f"{alerts} alerts, then {ROUNDS} checkpoints of {keys} changed values")
    print(f"{'state':<11} {'ms/alert':>9} {'tx/alert':>9} {'bytes/alert':>12} "
          f"{'ms/checkpoint':>14} {'bytes/checkpoint':>17}")  # fmt: skip
    for name, r in rows.items():
        print(f"{name:<11} {r['alert_ms']:>9.3f} {r['transactions_per_alert']:>9.2f} "
              f"{r['bytes_per_alert']:>12.0f} {r['checkpoint_ms']:>14.2f} "
              f"{r['bytes_per_checkpoint']:>17.0f}")  # fmt: skip
    print("bytes: SQLite, what the process wrote (file, WAL, WAL copied back); PostgreSQL, WAL")
    print("pg-fleet: PostgreSQL with every write fenced by a lease (a member of a fleet)")
    save("state_cost", {"alerts": alerts, "keys": keys, **rows})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 1000)  # fmt: skip
