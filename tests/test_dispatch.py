"""Delivery against a real local HTTP receiver: retries, Retry-After, isolation, signatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pxrules.backoff import Backoff
from pxrules.daemon.delivery import Dispatcher
from pxrules.daemon.notifiers.apprise import AppriseTarget
from pxrules.daemon.notifiers.base import Outcome, classify_http, parse_retry_after
from pxrules.daemon.notifiers.webhook import WebhookTarget
from pxrules.daemon.store import OutboxItem, Store
from pxrules.rules.schema import WebhookSpec
from pxrules.webhooks import verify

from .receiver import Receiver, Reply

NO_JITTER = Backoff(initial=0.01, maximum=0.05, jitter=0.0)


def document(n: int = 1) -> dict[str, Any]:
    return {
        "version": "1", "id": f"id-{n}", "fingerprint": "fp", "rule": "r", "key": "k",
        "state": "firing", "severity": "warning", "value": "71", "number": 71.0,
        "previous": "69", "since": "2025-01-01T00:00:00.000Z", "at": "2025-01-01T00:00:00.000Z",
        "title": "t", "message": "m",
    }  # fmt: skip


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Sleeps:
    """A virtual clock for the dispatcher: records each wait and advances by it at once."""

    START = 1000.0

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.now = self.START

    def clock(self) -> float:
        return self.now

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def deliver(
    targets: dict[str, list[Any]], items: list[OutboxItem], store: Store | None = None, **kw: Any
) -> Dispatcher:
    if "sleep" in kw:
        kw.setdefault("clock", kw["sleep"].clock)
    dispatcher = Dispatcher(targets, store, backoff=kw.pop("backoff", NO_JITTER), **kw)
    dispatcher.start()
    for item in items:
        dispatcher.submit(item)
    return dispatcher


def item(target: str, n: int = 1, notifier: str | None = None) -> OutboxItem:
    """An outbox item created at the virtual clock's start (or now, for real-clock tests)."""
    now = Sleeps.START
    return OutboxItem(f"id-{n}", target, notifier or target, document(n), now, 0, now)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED), (204, Outcome.DELIVERED), (301, Outcome.PERMANENT),
        (400, Outcome.PERMANENT), (401, Outcome.PERMANENT), (404, Outcome.PERMANENT),
        (408, Outcome.RETRY), (410, Outcome.PERMANENT), (429, Outcome.RETRY),
        (500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY), (504, Outcome.RETRY),
    ],
)  # fmt: skip
def test_status_classes(status: int, outcome: Outcome) -> None:
    assert classify_http(status, "").outcome is outcome


def test_retry_after_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


async def test_503_three_times_then_200_is_one_delivery_with_one_id(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with Receiver({"/hook": [Reply(503), Reply(503), Reply(503)]}) as rx:
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        store = Store.open(tmp_path / "s.db")
        sleeps = Sleeps()
        first = item("hook")
        store.record_alerts([(first.id, "hook", "hook", first.document)], [], first.created)
        d = await deliver({"hook": [target]}, [first], store, sleep=sleeps)
        await rx.requests.wait_count(4)
        await d.drain(5)
    assert [r.json()["id"] for r in rx.to("/hook")] == ["id-1"] * 4
    assert sleeps.asked == pytest.approx([0.01, 0.02, 0.04])  # backoff, no jitter
    outcomes = [o for _, _, o, _ in store.delivery_log()]
    assert outcomes == ["retry", "retry", "retry", "delivered"]
    assert store.pending() == []
    assert d.stats.notifications[("hook", "delivered")] == 1 and d.stats.retries["hook"] == 3


async def test_400_is_one_attempt_logged_as_permanent(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with Receiver({"/hook": [Reply(400)]}) as rx:
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        d = await deliver({"hook": [target]}, [item("hook")], sleep=Sleeps())
        await rx.requests.wait_count(1)
        await d.drain(5)
        assert len(rx.to("/hook")) == 1
    assert "giving up on notification id-1" in caplog.text and "HTTP 400" in caplog.text


async def test_429_retry_after_is_honoured(session: aiohttp.ClientSession) -> None:
    async with Receiver({"/hook": [Reply(429, {"Retry-After": "2"})]}) as rx:
        target = WebhookTarget("hook", WebhookSpec(url=rx.url("/hook")), session)
        sleeps = Sleeps()
        d = await deliver({"hook": [target]}, [item("hook")], sleep=sleeps)
        await rx.requests.wait_count(2)
        await d.drain(5)
    assert sleeps.asked == pytest.approx([2.0])
    assert len(rx.to("/hook")) == 2


async def test_a_hanging_target_does_not_delay_a_healthy_one(
    session: aiohttp.ClientSession,
) -> None:
    async with Receiver({"/slow": [Reply(hang=True)]}) as rx:
        slow = WebhookTarget("slow", WebhookSpec(url=rx.url("/slow"), timeout=30), session)
        fast = WebhookTarget("fast", WebhookSpec(url=rx.url("/fast")), session)
        d = await deliver(
            {"slow": [slow], "fast": [fast]},
            [item("slow", 1), item("fast", 2), item("fast", 3)],
        )
        await rx.requests.wait_for(lambda reqs: len([r for r in reqs if r.path == "/fast"]) == 2)
        # both fast deliveries happened while the slow one is still waiting for its answer
        assert d.workers["slow"].busy
        assert [r.json()["id"] for r in rx.to("/fast")] == ["id-2", "id-3"]
        await d.drain(0)


async def test_connection_refused_is_retried(session: aiohttp.ClientSession) -> None:
    async with Receiver() as rx:
        port = rx.port
    url = f"http://127.0.0.1:{port}/services/TOKEN-IN-PATH?sig=QUERY-SECRET"
    result = await WebhookTarget("hook", WebhookSpec(url=url), session).send(document())
    assert result.outcome is Outcome.RETRY
    assert "TOKEN-IN-PATH" not in result.detail and "QUERY-SECRET" not in result.detail


async def test_webhook_headers_and_signature(session: aiohttp.ClientSession) -> None:
    async with Receiver() as rx:
        spec = WebhookSpec(
            url=rx.url("/signed"), secret="s3cret-value", headers={"Authorization": "Bearer t0k"}
        )
        result = await WebhookTarget("hook", spec, session).send(document())
        assert result.outcome is Outcome.DELIVERED
        (request,) = rx.to("/signed")
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("pxrules/")
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["webhook-id"] == "id-1"
    assert verify(request.body, headers, "s3cret-value")
    assert not verify(request.body, headers, "wrong-secret")
    assert not verify(request.body + b" ", headers, "s3cret-value")
    assert request.json() == document()


async def test_apprise_json_target_posts_and_maps_severity() -> None:
    async with Receiver({"/fails": [Reply(500)]}) as rx:
        ok = AppriseTarget("phone", f"json://127.0.0.1:{rx.port}/notify")
        doc = {**document(), "severity": "critical", "title": "Hot", "message": "71 %"}
        assert (await ok.send(doc)).outcome is Outcome.DELIVERED
        failing = AppriseTarget("phone", f"json://127.0.0.1:{rx.port}/fails")
        assert (await failing.send(document())).outcome is Outcome.RETRY
        resolved = {**document(), "state": "resolved"}
        assert (await ok.send(resolved)).outcome is Outcome.DELIVERED
    sent = [r.json() for r in rx.to("/notify")]
    assert [(s["title"], s["message"], s["type"]) for s in sent] == [
        ("Hot", "71 %", "failure"),
        ("t", "m", "success"),
    ]


async def test_each_apprise_url_is_its_own_target() -> None:
    """A retry never re-sends to a URL that already succeeded."""
    async with Receiver({"/b": [Reply(500)]}) as rx:
        a = AppriseTarget("phone#0", f"json://127.0.0.1:{rx.port}/a")
        b = AppriseTarget("phone#1", f"json://127.0.0.1:{rx.port}/b")
        d = await deliver(
            {"phone": [a, b]},
            [item("phone#0", 1, "phone"), item("phone#1", 1, "phone")],
            sleep=Sleeps(),
        )
        await rx.requests.wait_for(lambda r: len([x for x in r if x.path == "/b"]) == 2)
        await d.drain(5)
    assert len(rx.to("/a")) == 1 and len(rx.to("/b")) == 2


async def test_reconfigure_keeps_a_kept_targets_queue_and_retires_a_removed_one(
    session: aiohttp.ClientSession,
) -> None:
    """Reload: a target kept by name keeps its queue and in-flight attempt (new settings for the
    next ones); a removed target finishes its attempt and drops what it had queued."""
    async with Receiver({"/a": [Reply(delay=0.2)], "/b": [Reply(delay=0.2)]}) as rx:
        a = WebhookTarget("a", WebhookSpec(url=rx.url("/a")), session)
        b = WebhookTarget("b", WebhookSpec(url=rx.url("/b")), session)
        d = await deliver({"a": [a], "b": [b]}, [item("a", 1), item("a", 2), item("b", 3),
                                                 item("b", 4)])  # fmt: skip
        await rx.requests.wait_for(lambda got: len(got) == 2)  # id-1 and id-3 in flight
        a2 = WebhookTarget("a", WebhookSpec(url=rx.url("/a2")), session)
        d.reconfigure({"a": [a2]}, {"a": 60.0})
        assert d.workers["a"].target is a2 and list(d.by_notifier) == ["a"]
        await rx.requests.wait_for(lambda got: len(got) == 3)
        await d.drain(5)
    got = [(r.path, r.json()["id"]) for r in rx.requests.items]
    assert sorted(got[:2]) == [("/a", "id-1"), ("/b", "id-3")]  # the two in flight, any order
    assert got[2:] == [("/a2", "id-2")]  # a's queue, sent with the new settings
    assert d.stats.dropped == 1  # id-4, queued for b
    assert d.retry_for == {"a": 60.0}
