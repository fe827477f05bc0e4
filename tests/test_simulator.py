"""The simulator's REST database API (docs/reference.md) over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

from pxrules.events import Event
from pxrules.source import PxServSource
from pxrules.testing.simulator import Simulator, demo_script

from .conftest import API_KEY, FAST
from .helpers import Collector


async def call(
    sim: Simulator, method: str, path: str, body: Any = None, key: str = API_KEY
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, sim.url + path, json=body, headers={"apikey": key}) as response,
    ):
        return response.status, await response.json()


async def test_get_all_envelope(sim: Simulator) -> None:
    sim.set_quietly("humidity", "64.11")
    sim.set_quietly("sıcaklık", "21")
    assert await call(sim, "GET", "/database/getAll") == (
        200,
        {"status": 200, "message": "OK", "data": {"humidity": "64.11", "sıcaklık": "21"}},
    )


async def test_bad_key_is_401_with_message(sim: Simulator) -> None:
    for method, path in [
        ("GET", "/database/getAll"),
        ("POST", "/database/setData"),
        ("POST", "/database/toggleData"),
        ("POST", "/database/removeData"),
    ]:
        status, body = await call(sim, method, path, {"key": "k", "value": "1"}, key="nope")
        assert (status, body) == (401, {"status": 401, "message": "Invalid API key."})


async def test_writes_are_pushed_to_socket_clients(sim: Simulator) -> None:
    got: Collector[Event] = Collector()
    async with PxServSource(api_key=API_KEY, url=sim.url, snapshot=False, backoff=FAST) as src:
        src.events.subscribe(got)
        await src.wait_connected()
        status, body = await call(sim, "POST", "/database/setData", {"key": "fan", "value": "0"})
        assert status == 200 and body["data"]["value"] == "0"
        status, body = await call(sim, "POST", "/database/toggleData", {"key": "fan"})
        assert status == 200 and body["data"]["value"] == "1"
        status, _ = await call(sim, "POST", "/database/removeData", {"key": "fan"})
        assert status == 200
        await got.wait_count(3)
    assert [(e.kind, e.key, e.value) for e in got.items] == [
        ("set", "fan", "0"),
        ("set", "fan", "1"),
        ("remove", "fan", None),
    ]


async def test_get_data_and_errors(sim: Simulator) -> None:
    await sim.set("door", "1", icon="door")
    status, body = await call(sim, "GET", "/database/getData?key=door")
    assert status == 200
    assert (body["data"]["key"], body["data"]["value"], body["data"]["icon"]) == (
        "door",
        "1",
        "door",
    )
    assert (await call(sim, "GET", "/database/getData?key=nope"))[0] == 404
    assert (await call(sim, "POST", "/database/removeData", {"key": "nope"}))[0] == 404
    assert (await call(sim, "POST", "/database/setData", {"value": "1"}))[0] == 400
    assert (await call(sim, "POST", "/database/setData", {"key": "k", "value": {"x": 1}}))[0] == 400
    sim.set_quietly("mode", "auto")
    assert (await call(sim, "POST", "/database/toggleData", {"key": "mode"}))[0] == 400


async def test_demo_script_crosses_threshold_and_silences_soil(sim: Simulator) -> None:
    step = demo_script(sim)
    humidity: list[float] = []
    soil_updates = 0
    for t in range(40):
        before = sim.data.get("soil")
        await step(float(t))
        humidity.append(float(sim.data["humidity"].value))
        soil_updates += sim.data.get("soil") is not before
    assert max(humidity) > 71 and min(humidity) < 65  # crosses a 70 threshold and comes back
    assert soil_updates == 8  # reports for the first 8 s, then goes silent
    assert sim.data["door"].value in ("0", "1")


async def test_one_server_serves_many_projects_each_seeing_only_its_own() -> None:
    """Each API key is a project with its own keys: REST and pushes never cross over."""
    async with Simulator(api_key="p0", api_keys=[f"p{i}" for i in range(1, 20)]) as sim:
        got: dict[str, Collector[Event]] = {k: Collector() for k in ("p0", "p7", "p19")}
        sources = [PxServSource(api_key=k, url=sim.url, snapshot=False, backoff=FAST)
                   for k in got]  # fmt: skip
        try:
            for source, collector in zip(sources, got.values(), strict=True):
                source.events.subscribe(collector)
                await source.start()
                await source.wait_connected()
            assert sim.clients == 3 and len(sim.project("p7").clients) == 1
            await sim.project("p7").set("humidity", "40")
            status, _ = await call(sim, "POST", "/database/setData",
                                   {"key": "door", "value": "1"}, key="p19")  # fmt: skip
            assert status == 200
            await sim.set("humidity", "70")  # the first project's
            for collector in got.values():
                await collector.wait_count(1)
        finally:
            for source in sources:
                await source.close()
        assert {k: [(e.key, e.value) for e in c.items] for k, c in got.items()} == {
            "p0": [("humidity", "70")],
            "p7": [("humidity", "40")],
            "p19": [("door", "1")],
        }
        assert (await call(sim, "GET", "/database/getAll", key="p7"))[1]["data"] == {
            "humidity": "40"
        }
        assert (await call(sim, "GET", "/database/getAll", key="p3"))[1]["data"] == {}
        assert (await call(sim, "GET", "/database/getAll", key="p20"))[0] == 401
