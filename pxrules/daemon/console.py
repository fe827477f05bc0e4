"""What a running daemon shows and lets people steer: its alerts, keys and their recent
readings, rules, deliveries and silences, as plain JSON-able data (the HTTP API in
:mod:`.api` serves these; tests read them directly too).

Everything here runs on the daemon's event loop, the thread the engine runs on, so a view is
a consistent picture of one moment.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..engine import Silence, SilenceBook
from ..engine.tracks import FIRING, PENDING
from ..events import format_time
from ..rules.conditions import thresholds
from .history import KeyHistory

if TYPE_CHECKING:
    from .project import ProjectRunner
    from .service import Daemon

#: Rows a list endpoint returns unless asked for fewer (``limit``); at most MAX_LIMIT.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
#: Keys (with their charts) and failing deliveries the status page is sent at most.
PAGE_KEYS = 200
PAGE_DELIVERIES = 50


def _iso(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _epoch_iso(seconds: float | None) -> str | None:
    return format_time(datetime.fromtimestamp(seconds, UTC)) if seconds is not None else None


class Console:
    """Views of one daemon, and the silences it keeps (in its state file)."""

    def __init__(self, daemon: Daemon, clock: Callable[[], float] = time.time) -> None:
        self._daemon = daemon
        self._clock = clock

    @property
    def silences(self) -> SilenceBook:
        return self._daemon.silences

    @property
    def history(self) -> KeyHistory:
        """The first project's key history (a daemon of one project)."""
        return self._daemon.history

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _projects(self, name: str | None = None) -> list[ProjectRunner]:
        """The running projects (with an engine), or the one named."""
        found = [p for p in self._daemon.projects if p.engine is not None]
        return [p for p in found if p.name == name] if name is not None else found

    # -- views ------------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Firing and pending alerts of every project: firing first, then the
        longest-standing first."""
        now = self.now()
        found = []
        for project in self._projects():
            engine = project.engine
            assert engine is not None
            gate = engine.gate
            for rule in engine.ruleset.rules:
                if rule.event_rule:
                    continue
                for key, track in engine.tracks[rule.name].items():
                    if track.phase is not FIRING and track.phase is not PENDING:
                        continue
                    entry = engine.values.get(key)
                    silence = gate.silence_of(rule, key, now) if gate is not None else None
                    inhibitor = gate.inhibitor(rule, key) if gate is not None else None
                    muted = gate.muted_by(rule, now) if gate is not None else None
                    found.append({
                        "project": project.name, "rule": rule.name, "key": key,
                        "state": "firing" if track.phase is FIRING else "pending",
                        "severity": rule.definition.severity,
                        "value": entry.value if entry is not None else None,
                        "since": _iso(track.since), "notified": track.notified,
                        "silenced": silence is not None,
                        "silenced_by": silence.id if silence is not None else None,
                        "inhibited": inhibitor is not None, "inhibited_by": inhibitor,
                        "muted": muted is not None, "muted_by": muted,
                        "flapping": track.flapping,
                    })  # fmt: skip
        found.sort(key=lambda a: (a["state"] != "firing", a["since"] or "", a["project"],
                                  a["rule"], a["key"]))  # fmt: skip
        return found

    def keys(
        self, match: str | None = None, limit: int = DEFAULT_LIMIT, project: str | None = None
    ) -> dict[str, Any]:
        """Keys (sorted by project, then key), their latest values, last update and the rules
        that watch them; of every project, or of ``project``."""
        test = re.compile(fnmatch.translate(match)).match if match else None
        rows: list[dict[str, Any]] = []
        total = 0
        for runner in self._projects(project):
            engine = runner.engine
            assert engine is not None
            names = sorted(k for k in engine.values if test is None or test(k))
            total += len(names)
            for key in names[: max(0, limit - len(rows))]:
                entry = engine.values[key]
                rows.append({
                    "project": runner.name, "key": key, "value": entry.value,
                    "number": entry.number, "updated": _iso(entry.last_set),
                    "removed": entry.removed,
                    "rules": [rule.name for rule in engine.ruleset.rules_for(key)],
                    "history": key in runner.history,
                })  # fmt: skip
        return {"keys": rows, "total": total}

    def key_history(self, key: str, project: str | None = None) -> dict[str, Any] | None:
        """A key's recent readings and the thresholds of the rules that watch it (in
        ``project``, or the first project that knows the key); ``None`` for a key no project
        knows."""
        for runner in self._projects(project):
            engine = runner.engine
            assert engine is not None
            if key not in engine.values and key not in runner.history:
                continue
            entry = engine.values.get(key)
            rules = [
                {
                    "rule": rule.name,
                    "thresholds": sorted(
                        {*thresholds(rule.definition.when)}
                        | ({*thresholds(rule.definition.clear)} if rule.definition.clear else set())
                    ),
                }
                for rule in engine.ruleset.rules_for(key)
            ]
            points = [{"at": _epoch_iso(at), "number": n} for at, n in runner.history.points(key)]
            return {
                "project": runner.name,
                "key": key,
                "value": entry.value if entry is not None else None,
                "updated": _iso(entry.last_set) if entry is not None else None,
                "points": points,
                "capacity": runner.history.capacity,
                "rules": rules,
            }
        return None

    def rules(self) -> dict[str, Any]:
        """The rules in force in every project, with how many alerts each has firing and
        pending; each project's file and last (re)load; files that do not load."""
        daemon = self._daemon
        rows, projects = [], []
        for runner in self._projects():
            engine = runner.engine
            assert engine is not None
            for rule in engine.ruleset.rules:
                d = rule.definition
                phases = [t.phase for t in engine.tracks[rule.name].values()]
                rows.append({
                    "project": runner.name, "name": d.name, "description": d.description,
                    "keys": [d.key] if d.key is not None else list(d.keys),
                    "severity": d.severity, "notify": list(d.notify),
                    "event_rule": rule.event_rule,
                    "firing": phases.count(FIRING), "pending": phases.count(PENDING),
                })  # fmt: skip
            projects.append({
                "project": runner.name, "file": str(runner.path),
                "last_reload": {"successful": runner.reload_ok,
                                "at": _epoch_iso(runner.reload_at), "error": runner.reload_error},
            })  # fmt: skip
        status = daemon.status
        return {
            "project": daemon.project,
            "file": str(daemon.main.path if daemon.main is not None else daemon.options.rules_path),
            "rules": rows,
            "last_reload": {
                "successful": status.reload_ok,
                "at": _epoch_iso(status.reload_at),
                "error": status.reload_error,
            },
            "projects": projects,
            "broken": [{"file": str(path), "error": why} for path, why in daemon.broken.items()],
        }

    async def page(self, match: str | None) -> dict[str, Any]:
        """Everything the status page shows, in one document (``/api/v1/stream`` sends it
        whenever it changes): alerts, failing deliveries, silences, and up to PAGE_KEYS keys
        matching ``match`` with their recent readings and their rules' thresholds."""
        keys = self.keys(match, PAGE_KEYS)
        for row in keys["keys"]:
            found = self.key_history(row["key"], row["project"]) or {"points": [], "rules": []}
            row["points"] = found["points"]
            row["thresholds"] = sorted({t for r in found["rules"] for t in r["thresholds"]})
        failing = [
            row
            for row in (await self.deliveries(None, PAGE_DELIVERIES))["deliveries"]
            if row["status"] == "failed" or row["attempts"] > 0
        ]
        names = [p.name for p in self._daemon.projects]
        return {
            "project": names[0] if len(names) == 1 else f"{len(names)} projects",
            "alerts": self.alerts(),
            "deliveries": failing,
            "silences": self.list_silences(),
            "keys": keys["keys"],
            "total_keys": keys["total"],
        }

    async def deliveries(self, status: str | None, limit: int) -> dict[str, Any]:
        """Undelivered (queued, retrying) and failed notifications, newest first."""
        store = self._daemon.store
        if store is None:
            return {"deliveries": [], "pending": {}}
        rows = await store.run(store.deliveries, status, limit)
        for row in rows:
            row["created"] = _epoch_iso(row["created"])
            row["next_attempt"] = _epoch_iso(row["next_attempt"])
        counts = await store.run(store.pending_counts)
        return {"deliveries": rows, "pending": counts}

    # -- silences ---------------------------------------------------------------------------

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.now()
        return [s.to_document(now) for s in self.silences.all()]

    async def add_silence(self, document: dict[str, Any]) -> Silence:
        """Make a silence from its document (raises SilenceError), store it, then apply it."""
        silence = Silence.from_document(document, now=self.now())
        await self._save(silence)
        self.silences.add(silence)
        return silence

    async def expire_silence(self, ident: str) -> Silence | None:
        """End a silence now; ``None`` if there is no such silence."""
        silence = self.silences.get(ident)
        if silence is None:
            return None
        ended = silence.expired_at(self.now())
        await self._save(ended)
        self.silences.add(ended)  # the engine sends what the silence held back
        return ended

    async def _save(self, silence: Silence) -> None:
        store = self._daemon.store
        if store is not None:
            await store.run(
                store.save_silence, silence.id, silence.ends_at.timestamp(), silence.to_document()
            )
