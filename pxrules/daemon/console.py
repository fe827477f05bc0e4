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
        return self._daemon.history

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- views ------------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Firing and pending alerts: firing first, then the longest-standing first."""
        engine = self._daemon.engine
        if engine is None:
            return []
        now, project, gate = self.now(), self._daemon.project, engine.gate
        found = []
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
                    "project": project, "rule": rule.name, "key": key,
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
        found.sort(key=lambda a: (a["state"] != "firing", a["since"] or "", a["rule"], a["key"]))
        return found

    def keys(self, match: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Keys (sorted), their latest values, last update and the rules that watch them."""
        engine = self._daemon.engine
        if engine is None:
            return {"keys": [], "total": 0}
        names = sorted(engine.values)
        if match:
            test = re.compile(fnmatch.translate(match)).match
            names = [k for k in names if test(k)]
        rows = []
        for key in names[:limit]:
            entry = engine.values[key]
            rows.append({
                "key": key, "value": entry.value, "number": entry.number,
                "updated": _iso(entry.last_set), "removed": entry.removed,
                "rules": [rule.name for rule in engine.ruleset.rules_for(key)],
                "history": key in self.history,
            })  # fmt: skip
        return {"keys": rows, "total": len(names)}

    def key_history(self, key: str) -> dict[str, Any] | None:
        """A key's recent readings and the thresholds of the rules that watch it; ``None`` for
        a key the daemon does not know."""
        engine = self._daemon.engine
        if engine is None or (key not in engine.values and key not in self.history):
            return None
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
        points = [{"at": _epoch_iso(at), "number": n} for at, n in self.history.points(key)]
        return {
            "key": key,
            "value": entry.value if entry is not None else None,
            "updated": _iso(entry.last_set) if entry is not None else None,
            "points": points,
            "capacity": self.history.capacity,
            "rules": rules,
        }

    def rules(self) -> dict[str, Any]:
        """The rules in force, with how many alerts each has firing and pending, and the last
        (re)load."""
        daemon = self._daemon
        engine, config, status = daemon.engine, daemon.config, daemon.status
        rows = []
        if engine is not None and config is not None:
            for rule in engine.ruleset.rules:
                d = rule.definition
                phases = [t.phase for t in engine.tracks[rule.name].values()]
                rows.append({
                    "name": d.name, "description": d.description,
                    "keys": [d.key] if d.key is not None else list(d.keys),
                    "severity": d.severity, "notify": list(d.notify),
                    "event_rule": rule.event_rule,
                    "firing": phases.count(FIRING), "pending": phases.count(PENDING),
                })  # fmt: skip
        return {
            "project": daemon.project,
            "file": str(daemon.options.rules_path),
            "rules": rows,
            "last_reload": {
                "successful": status.reload_ok,
                "at": _epoch_iso(status.reload_at),
                "error": status.reload_error,
            },
        }

    async def page(self, match: str | None) -> dict[str, Any]:
        """Everything the status page shows, in one document (``/api/v1/stream`` sends it
        whenever it changes): alerts, failing deliveries, silences, and up to PAGE_KEYS keys
        matching ``match`` with their recent readings and their rules' thresholds."""
        keys = self.keys(match, PAGE_KEYS)
        for row in keys["keys"]:
            found = self.key_history(row["key"]) or {"points": [], "rules": []}
            row["points"] = found["points"]
            row["thresholds"] = sorted({t for r in found["rules"] for t in r["thresholds"]})
        failing = [
            row
            for row in (await self.deliveries(None, PAGE_DELIVERIES))["deliveries"]
            if row["status"] == "failed" or row["attempts"] > 0
        ]
        return {
            "project": self._daemon.project,
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
