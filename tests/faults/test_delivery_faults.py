"""Delivery-side faults, each asserted from the receiver's own log of requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from pxrules.backoff import Backoff
from pxrules.daemon.delivery import Dispatcher
from pxrules.daemon.notifiers.webhook import WebhookTarget
from pxrules.daemon.store import Store
from pxrules.rules.schema import WebhookSpec

from ..receiver import Receiver, Reply
from ..test_dispatch import NO_JITTER, Sleeps, item


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def settle(dispatcher: Dispatcher) -> None:
    while dispatcher.depth:
        await asyncio.sleep(0.01)


CASES: list[tuple[int, dict[str, str], int, str]] = [
    # status, headers, requests the receiver sees, final outcome in the delivery log
    (200, {}, 1, "delivered"),
    (204, {}, 1, "delivered"),
    (301, {"Location": "/elsewhere"}, 1, "permanent"),
    (302, {"Location": "/elsewhere"}, 1, "permanent"),
    (400, {}, 1, "permanent"),
    (401, {}, 1, "permanent"),
    (404, {}, 1, "permanent"),
    (408, {}, 2, "delivered"),
    (410, {}, 1, "permanent"),
    (429, {}, 2, "delivered"),
    (429, {"Retry-After": "7"}, 2, "delivered"),
    (500, {}, 2, "delivered"),
    (502, {}, 2, "delivered"),
    (503, {}, 2, "delivered"),
    (504, {}, 2, "delivered"),
]


@pytest.mark.parametrize(("status", "headers", "requests", "final"), CASES)
async def test_status_class(
    session: aiohttp.ClientSession,
    tmp_path: Any,
    status: int,
    headers: dict[str, str],
    requests: int,
    final: str,
) -> None:
    async with Receiver({"/hook": [Reply(status, headers)]}) as rx:
        store = Store.open(tmp_path / "s.db")
        first = item("hook")
        store.record_alerts([(first.id, "hook", "hook", first.document)], [], first.created)
        sleeps = Sleeps()
        dispatcher = Dispatcher(
            {"hook": [WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)]},
            store,
            backoff=NO_JITTER,
            sleep=sleeps,
            clock=sleeps.clock,
        )
        dispatcher.start()
        dispatcher.submit(first)
        await settle(dispatcher)
        await dispatcher.drain(1)
        assert len(rx.to("/hook")) == requests
    assert {r.json()["id"] for r in rx.to("/hook")} == {"id-1"}
    assert store.delivery_log()[-1][2] == final
    if "Retry-After" in headers:
        assert sleeps.asked == pytest.approx([7.0])
    assert store.pending() == []


async def test_connection_reset_is_retried(session: aiohttp.ClientSession) -> None:
    async with Receiver({"/hook": [Reply(reset=True)]}) as rx:
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        sleeps = Sleeps()
        dispatcher = Dispatcher(
            {"hook": [target]}, None, backoff=NO_JITTER, sleep=sleeps, clock=sleeps.clock
        )
        dispatcher.start()
        dispatcher.submit(item("hook"))
        await rx.requests.wait_count(2)
        await settle(dispatcher)
        await dispatcher.drain(1)
    assert dispatcher.stats.notifications[("hook", "retry")] == 1
    assert dispatcher.stats.notifications[("hook", "delivered")] == 1


class FailingResolver(AbstractResolver):
    """What a DNS failure looks like to aiohttp (no lookups leave this machine in tests)."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        raise OSError(socket.EAI_NONAME, f"Name or service not known: {host}")

    async def close(self) -> None:
        return None


async def test_dns_failure_is_retried_then_given_up() -> None:
    connector = aiohttp.TCPConnector(resolver=FailingResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        target = WebhookTarget("hook", WebhookSpec(url="http://hooks.example.test/x"), session)
        clock = [1000.0]
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            clock[0] += seconds  # a virtual clock: an hour of retries in no time

        dispatcher = Dispatcher(
            {"hook": [target]}, None, retry_for={"hook": 60.0},
            backoff=Backoff(initial=1, maximum=10, jitter=0), clock=lambda: clock[0], sleep=sleep,
        )  # fmt: skip
        dispatcher.start()
        first = item("hook")
        dispatcher.submit(type(first)(first.id, "hook", "hook", first.document, 1000.0, 0, 1000.0))
        await settle(dispatcher)
        await dispatcher.drain(1)
    # 1, 2, 4, 8, then capped at 10, and a last wait clipped to the 60 s give-up time
    assert sleeps == [1, 2, 4, 8, 10, 10, 10, 10, 5]
    assert dispatcher.stats.notifications[("hook", "retry")] == 10
    assert dispatcher.stats.notifications[("hook", "delivered")] == 0
