"""The JSON API of a real daemon: keys, a key's history with its rules' thresholds, rules,
deliveries, reload; every response checked against the OpenAPI document it serves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pxrules.daemon.api import Api
from pxrules.daemon.history import KeyHistory
from pxrules.testing.simulator import Simulator

from ..daemon_proc import DaemonProc
from ..helpers import poll
from ..receiver import Receiver, Reply
from .test_silences_live import rules_file

TOKEN = "api-Token-0d3f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def rx() -> AsyncIterator[Receiver]:
    async with Receiver({"/hook": [Reply(status=500)] * 50}) as receiver:
        yield receiver


def conforms(openapi: dict[str, Any], schema: str, instance: Any) -> None:
    """Validate ``instance`` against ``#/components/schemas/SCHEMA`` of the served document."""
    jsonschema.validate(
        instance, {"$ref": f"#/components/schemas/{schema}", "components": openapi["components"]}
    )


async def test_every_view_answers_as_its_openapi_document_says(
    sim: Simulator, rx: Receiver, tmp_path: Path
) -> None:
    daemon = await DaemonProc(
        rules_file(tmp_path, sim, rx), tmp_path / "s.db", "--http-token", TOKEN
    ).start()
    status, openapi = await daemon.request("GET", "/api/v1/openapi.json")
    assert status == 200 and openapi["openapi"].startswith("3.1")

    sent = ["-20", "-12", "-3", "oops", "-1"]
    for value in sent:
        await sim.set("kitchen/freezer", value)
    await sim.set("garage/door", "open")  # no rule watches it: no history kept

    async def history() -> Any:
        _, found = await daemon.request("GET", "/api/v1/keys/kitchen/freezer/history")
        return found if len(found.get("points", [])) == len(sent) else None

    found = await poll(history)
    conforms(openapi, "History", found)
    assert [p["number"] for p in found["points"]] == [-20.0, -12.0, -3.0, None, -1.0]
    assert found["rules"] == [{"rule": "freezer-warm", "thresholds": [-10.0]}]
    assert found["value"] == "-1" and found["capacity"] == 60

    status, keys = await daemon.request("GET", "/api/v1/keys")
    conforms(openapi, "Keys", keys)
    by_key = {k["key"]: k for k in keys["keys"]}
    assert by_key["kitchen/freezer"]["rules"] == ["freezer-warm"]
    assert (
        by_key["kitchen/freezer"]["history"] is True and by_key["garage/door"]["history"] is False
    )
    assert keys["total"] == len(by_key)
    status, some = await daemon.request("GET", "/api/v1/keys?match=kitchen/*&limit=5")
    assert [k["key"] for k in some["keys"]] == ["kitchen/freezer"]
    status, _ = await daemon.request("GET", "/api/v1/keys/garage/door/history")
    assert status == 200
    status, missing = await daemon.request("GET", "/api/v1/keys/no/such/history")
    assert status == 404 and missing == {"error": "no key 'no/such'"}

    status, alerts = await daemon.request("GET", "/api/v1/alerts")
    conforms(openapi, "Alerts", alerts)
    assert [(a["rule"], a["state"], a["value"]) for a in alerts["alerts"]] == [
        ("freezer-warm", "firing", "-1")
    ]

    status, rules = await daemon.request("GET", "/api/v1/rules")
    conforms(openapi, "Rules", rules)
    assert rules["project"] == "home" and rules["last_reload"]["successful"] is True
    assert {r["name"]: r["firing"] for r in rules["rules"]} == {"freezer-warm": 1, "humid": 0}

    # The receiver answers 500: the firing's delivery is retrying, with its error.
    async def retrying() -> Any:
        _, found = await daemon.request("GET", "/api/v1/deliveries")
        rows = found["deliveries"]
        return found if rows and rows[0]["attempts"] >= 1 and rows[0]["last_error"] else None

    deliveries = await poll(retrying)
    conforms(openapi, "Deliveries", deliveries)
    row = deliveries["deliveries"][0]
    assert (row["rule"], row["state"], row["status"], row["target"]) == (
        "freezer-warm", "firing", "pending", "hook"
    )  # fmt: skip
    assert "500" in row["last_error"] and deliveries["pending"] == {"hook": 1}

    status, made = await daemon.request(
        "POST", "/api/v1/silences", {"matchers": {"key": "x"}, "duration": 60}, AUTH
    )
    conforms(openapi, "Silence", made)
    status, listed = await daemon.request("GET", "/api/v1/silences")
    conforms(openapi, "Silences", listed)
    status, ended = await daemon.request("DELETE", f"/api/v1/silences/{made['id']}", None, AUTH)
    assert status == 200 and ended["state"] == "expired"

    rules_path = tmp_path / "home.yaml"
    good = rules_path.read_text()
    rules_path.write_text(good + "  - {name: broken, key: k, when: {abov: 1}}\n")
    status, answer = await daemon.request("POST", "/-/reload", None, AUTH)
    conforms(openapi, "Reload", answer)
    assert status == 422 and answer["ok"] is False and "abov" in answer["error"]
    status, rules = await daemon.request("GET", "/api/v1/rules")
    assert rules["last_reload"]["successful"] is False and "abov" in rules["last_reload"]["error"]
    rules_path.write_text(good)
    assert await daemon.request("POST", "/-/reload", None, AUTH) == (200, {"ok": True})
    assert await daemon.stop() == 0


def test_the_openapi_document_names_every_route_and_no_other() -> None:
    from pxrules.daemon.openapi import document

    api = Api(None, None, token=None, host="127.0.0.1")  # type: ignore[arg-type]
    served = set()
    for route in api.routes():
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)
        served.add((route.method.lower(), path))
    documented = {(method, path) for path, ops in document()["paths"].items() for method in ops}
    assert served == documented


def test_the_history_ring_keeps_the_last_points_and_forgets_the_oldest_key() -> None:
    history = KeyHistory(points=3, max_keys=2)
    for i in range(5):
        history.record("a", float(i), float(i * 10))
    assert history.points("a") == [(2.0, 20.0), (3.0, 30.0), (4.0, 40.0)]
    history.record("b", 0.0, 1.0)
    history.record("c", 0.0, 2.0)  # a third key: the first one recorded is dropped
    assert "a" not in history and len(history) == 2
    history.forget("b")
    assert history.points("b") == [] and len(history) == 1
    assert KeyHistory(points=0).points("x") == []


async def test_history_costs_about_a_kilobyte_a_key() -> None:
    import tracemalloc

    tracemalloc.start()
    history = KeyHistory()
    before = tracemalloc.take_snapshot()
    for k in range(2000):
        for i in range(history.capacity):
            history.record(f"sensor/{k:05d}", float(i), float(i))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_key = sum(s.size_diff for s in after.compare_to(before, "filename")) / 2000
    await asyncio.sleep(0)
    assert 960 <= per_key <= 1400, per_key  # 60 points × 16 bytes, plus the ring and its key
