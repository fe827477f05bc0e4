"""A fleet on loopback for the tests: real daemons (`pxrules run DIR --state postgresql://…`)
sharing N projects of one simulator, a receiver that logs every request, and the database read
directly to see who owns what."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from pxrules.testing.simulator import Simulator

from .daemon_proc import DaemonProc, served_at
from .helpers import poll
from .receiver import Receiver

#: Short leases keep the suite fast: a dead daemon's projects move within ~3 s.
TTL = 2.0


def key_of(project: str) -> str:
    return f"key-{project}"


def write_projects(folder: Path, names: list[str], sim: Simulator, rx: Receiver) -> Path:
    """One rules file per project in ``folder``: `t` above 70 fires (and resolves) to /hook."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.yaml").write_text(
            f"source: {{url: '{sim.url}', api_key: {key_of(name)}}}\n"
            f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
            "rules: [{name: hot, key: t, when: {above: 70}, resolve: true, notify: [hook]}]\n",
            encoding="utf-8",
        )
    return folder


class Fleet:
    """The daemons of one test (``start`` more at will) and the database they share."""

    def __init__(self, rules: Path, url: str, *, env: dict[str, str] | None = None) -> None:
        self.rules = rules
        self.url = url
        self.env = {"PXRULES_PG_IO_TIMEOUT": "1", **(env or {})}
        self.daemons: list[DaemonProc] = []

    async def start(self, url: str | None = None) -> DaemonProc:
        daemon = DaemonProc(
            self.rules, url or self.url, "--lease-ttl", str(TTL), "--grace", "2",  # type: ignore[arg-type]
            env=self.env,
        )  # fmt: skip
        await daemon.start(wait_connected=False)
        line = await daemon.wait_log(lambda m: m.startswith("serving http://"))
        daemon.health_url = served_at(line)
        self.daemons.append(daemon)
        return daemon

    async def health(self, daemon: DaemonProc) -> dict[str, Any]:
        return json.loads((await daemon.get("/healthz"))[1])  # type: ignore[no-any-return]

    async def member(self, daemon: DaemonProc) -> str:
        return str((await self.health(daemon))["fleet"]["member"])

    def leases(self) -> dict[str, tuple[str | None, int, bool]]:
        """project → (owner, epoch, whether the lease is live)."""
        with psycopg.connect(self.url, autocommit=True) as db:
            rows = db.execute(
                "SELECT project, owner, epoch, expires > now() FROM pxrules_leases"
            ).fetchall()
        return {p: (o, int(e), bool(live)) for p, o, e, live in rows}

    def pending(self) -> int:
        """Outbox rows not yet marked delivered (or failed), every project."""
        with psycopg.connect(self.url, autocommit=True) as db:
            row = db.execute("SELECT count(*) FROM pxrules_outbox WHERE status = 'pending'")
            return int(row.fetchone()[0])  # type: ignore[index]

    async def pending_async(self) -> int:
        return await asyncio.to_thread(self.pending)

    def owners(self) -> Counter[str]:
        return Counter(o for o, _, live in self.leases().values() if o is not None and live)

    async def settled(self, projects: int, members: int, timeout: float = 30.0) -> None:
        """Every project owned by a live lease, spread over ``members`` daemons fairly, and
        every owned project connected to PxServ."""

        async def fair() -> bool:
            # Off the loop: the daemons' log pipes are read on it and must not wait.
            leases = await asyncio.to_thread(self.leases)
            owners = await asyncio.to_thread(self.owners)
            if len(leases) != projects or sum(owners.values()) != projects:
                return False
            share = -(-projects // members)
            if len(owners) != members or max(owners.values()) > share:
                return False
            bodies = [await self.health(d) for d in self.live()]
            bodies = [b for b in bodies if b["fleet"]["member"] in owners]  # not one cut off
            held = sum(len(b["projects"]) for b in bodies)
            return held == projects and all(b["connected"] for b in bodies)

        try:
            await poll(fair, timeout)
        except AssertionError:
            bodies = [await self.health(d) for d in self.live()]
            shown = [(b["fleet"], [(p["project"], p["connected"]) for p in b["projects"]])
                     for b in bodies]  # fmt: skip
            stuck = [
                [m for m in d.messages() if "lease" in m or "database" in m or "round" in m][-8:]
                for d, b in zip(self.live(), bodies, strict=True)
                if b["fleet"]["mode"] != "member"
            ]
            raise AssertionError(f"not settled: {self.owners()} {shown} {stuck}") from None

    def live(self) -> list[DaemonProc]:
        return [d for d in self.daemons if d.proc is not None and d.proc.returncode is None]

    async def stop_all(self) -> list[int]:
        async def stop(daemon: DaemonProc) -> int:
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGCONT)  # a test that failed while it was paused
            try:
                return await daemon.stop()
            except TimeoutError:
                daemon.kill()
                tail = "\n".join(daemon.raw[-40:])
                raise AssertionError(f"a daemon did not stop on SIGTERM:\n{tail}") from None

        return list(await asyncio.gather(*(stop(d) for d in self.live())))


def deliveries(rx: Receiver) -> list[dict[str, Any]]:
    return [r.json() for r in rx.to("/hook")]


def tally(rx: Receiver) -> tuple[Counter[tuple[str, str, str]], int]:
    """Each notification (project, state, id) with how often it came; the duplicates."""
    seen = Counter((d["project"], d["state"], d["id"]) for d in deliveries(rx))
    return seen, sum(n - 1 for n in seen.values())


class Readings:
    """Flips projects' `t` between 50 and 75 — each flip is one notification (firing, then
    resolved) — and knows how many each project must have had."""

    def __init__(self, sim: Simulator, names: list[str]) -> None:
        self.sim = sim
        self.values = dict.fromkeys(names, 50)
        self.flips: Counter[str] = Counter()

    async def flip(self, *projects: str) -> None:
        for project in projects:
            self.values[project] = 125 - self.values[project]
            self.flips[project] += 1
            await self.sim.project(key_of(project)).set("t", str(self.values[project]))

    @property
    def sent(self) -> int:
        return sum(self.flips.values())

    def lost(self, rx: Receiver) -> list[str]:
        """Projects with fewer distinct notifications than flips."""
        seen, _ = tally(rx)
        got = Counter(project for project, _, _ in seen)
        return sorted(p for p, n in self.flips.items() if got[p] < n)

    def check(self, rx: Receiver) -> bool:
        """Every flip arrived (as firing/resolved in turn), nothing beyond them."""
        seen, _ = tally(rx)
        got = Counter(project for project, _, _ in seen)
        return got == +self.flips

    def states_in_order(self, rx: Receiver) -> bool:
        """Per project, the distinct notifications alternate firing, resolved, firing…"""
        order: dict[str, list[str]] = {}
        seen: set[tuple[str, str, str]] = set()
        for d in deliveries(rx):
            triple = (d["project"], d["state"], d["id"])
            if triple not in seen:
                seen.add(triple)
                order.setdefault(d["project"], []).append(d["state"])
        return all(states == ["firing", "resolved"] * (len(states) // 2) + ["firing"] *
                   (len(states) % 2) for states in order.values())  # fmt: skip
