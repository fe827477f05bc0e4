"""The PxServ write-back notifier against the simulator's real REST API."""

from __future__ import annotations

import socket

import aiohttp

from pxrules.daemon.notifiers.base import Outcome
from pxrules.daemon.notifiers.pxserv import PxServTarget
from pxrules.rules.schema import PxServWriteSpec
from pxrules.source.rest import PxServRest
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY

DOCUMENT = {"rule": "humid", "key": "humidity", "value": "75", "state": "firing"}


async def test_set_toggle_and_remove_reach_pxserv(sim: Simulator) -> None:
    await sim.set("buzzer", "0")
    await sim.set("alert", "on")
    spec = PxServWriteSpec(set={"fan": "{{ value }}"}, toggle=["buzzer"], remove=["alert"])
    async with aiohttp.ClientSession() as session:
        target = PxServTarget("fan", spec, PxServRest(API_KEY, sim.url, session=session))
        result = await target.send(DOCUMENT)
    assert result.outcome is Outcome.DELIVERED, result
    assert (sim.data["fan"].value, sim.data["buzzer"].value) == ("75", "1")
    assert "alert" not in sim.data


async def test_removing_a_key_that_is_not_there_is_done_not_a_failure(sim: Simulator) -> None:
    spec = PxServWriteSpec(remove=["alert"])
    async with aiohttp.ClientSession() as session:
        target = PxServTarget("clear", spec, PxServRest(API_KEY, sim.url, session=session))
        result = await target.send(DOCUMENT)
    assert result.outcome is Outcome.DELIVERED
    assert result.detail == "removeData alert (already absent)"


async def test_a_refused_key_is_permanent_and_says_so(sim: Simulator) -> None:
    spec = PxServWriteSpec(remove=["alert"])
    async with aiohttp.ClientSession() as session:
        target = PxServTarget("clear", spec, PxServRest("wrong-key", sim.url, session=session))
        result = await target.send(DOCUMENT)
    assert result.outcome is Outcome.PERMANENT
    assert result.detail == "removeData alert: HTTP 401 Invalid API key."


async def test_no_answer_is_retried() -> None:
    spec = PxServWriteSpec(toggle=["buzzer"])
    with socket.socket() as bound:  # bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        async with aiohttp.ClientSession() as session:
            rest = PxServRest(API_KEY, f"http://127.0.0.1:{port}", session=session)
            result = await PxServTarget("t", spec, rest).send(DOCUMENT)
    assert result.outcome is Outcome.RETRY and result.detail.startswith("toggleData buzzer: ")
