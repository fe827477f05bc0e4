"""PxServSource against the built-in simulator on a real port (no socketio mocks)."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from pxrules.backoff import Backoff
from pxrules.errors import KeyRefusedError
from pxrules.events import Event
from pxrules.source import ConnectionState, ConnectionStatus, PxServSource
from pxrules.testing.simulator import Simulator

from .conftest import API_KEY, FAST
from .helpers import Collector


def make_source(sim: Simulator, **kwargs: Any) -> PxServSource:
    kwargs.setdefault("backoff", FAST)
    return PxServSource(api_key=kwargs.pop("api_key", API_KEY), url=sim.url, **kwargs)


def keyed(events: list[Event]) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.key, e.value) for e in events]


async def test_live_events_arrive_in_order(sim: Simulator) -> None:
    got: Collector[Event] = Collector()
    async with make_source(sim, snapshot=False) as source:
        source.events.subscribe(got)
        await source.wait_connected()
        await sim.set("humidity", "71.5")
        await sim.set("sıcaklık", "23")
        await sim.set("door", "open")
        await sim.remove("humidity")
        await got.wait_count(4)
    assert keyed(got.items) == [
        ("set", "humidity", "71.5"),
        ("set", "sıcaklık", "23"),
        ("set", "door", "open"),
        ("remove", "humidity", None),
    ]
    assert [e.number for e in got.items] == [71.5, 23.0, None, None]
    assert {e.origin for e in got.items} == {"live"}
    assert got.completed  # close() completes the stream


async def test_snapshot_on_connect_emits_existing_values(sim: Simulator) -> None:
    sim.set_quietly("humidity", "64.11")
    sim.set_quietly("door", "0")
    got: Collector[Event] = Collector()
    async with make_source(sim) as source:
        source.events.subscribe(got)
        await got.wait_count(2)
    assert sorted(keyed(got.items)) == [("set", "door", "0"), ("set", "humidity", "64.11")]
    assert {e.origin for e in got.items} == {"snapshot"}


async def test_server_disconnect_reconnects_and_snapshot_reports_outage_change(
    sim: Simulator,
) -> None:
    sim.set_quietly("humidity", "60")
    got: Collector[Event] = Collector()
    states: Collector[ConnectionStatus] = Collector()
    async with make_source(sim) as source:
        source.events.subscribe(got)
        source.status.subscribe(states)
        await got.wait_count(1)
        # Server-side namespace disconnect: python-socketio alone would not reconnect.
        await sim.disconnect_all()
        sim.set_quietly("humidity", "75")  # written while we are away: nothing is pushed
        sim.set_quietly("door", "1")
        await got.wait_for(lambda items: len(items) >= 3)
        await states.wait_for(lambda s: [x.state for x in s].count(ConnectionState.CONNECTED) >= 2)
        assert source.stats.reconnects == 1
    assert sorted(keyed(got.items[1:])) == [("set", "door", "1"), ("set", "humidity", "75")]
    assert {e.origin for e in got.items} == {"snapshot"}
    assert ConnectionState.DISCONNECTED in [s.state for s in states.items]


async def test_snapshot_reports_keys_removed_during_outage(sim: Simulator) -> None:
    sim.set_quietly("a", "1")
    sim.set_quietly("b", "2")
    got: Collector[Event] = Collector()
    async with make_source(sim) as source:
        source.events.subscribe(got)
        await got.wait_count(2)
        await sim.pause()  # the server dies
        del sim.data["a"]
        await sim.resume()
        await got.wait_count(3)
    assert keyed(got.items[2:]) == [("remove", "a", None)]


async def test_unchanged_values_are_not_re_emitted_after_reconnect(sim: Simulator) -> None:
    sim.set_quietly("a", "1")
    got: Collector[Event] = Collector()
    async with make_source(sim) as source:
        source.events.subscribe(got)
        await got.wait_count(1)
        await sim.disconnect_all()
        await asyncio.sleep(0)
        await sim.set("marker", "x")  # pushed only once the client is back: proves it's back
        while sim.clients == 0 or source.stats.snapshots < 2:
            await asyncio.sleep(0.01)
        await sim.set("after", "y")
        await got.wait_for(lambda items: ("set", "after", "y") in keyed(items))
    assert keyed(got.items).count(("set", "a", "1")) == 1


async def test_wrong_key_is_refused_with_server_message_and_not_retried(sim: Simulator) -> None:
    source = make_source(sim, api_key="wrong-key-123")
    states: Collector[ConnectionStatus] = Collector()
    source.status.subscribe(states)
    with pytest.raises(KeyRefusedError) as info:
        await source.wait_connected()
    assert info.value.reason == "Invalid API key."
    with pytest.raises(KeyRefusedError):
        await source.wait_closed()  # the loop has ended: nothing left to retry
    assert source.current_status.state == ConnectionState.REFUSED
    assert sim.refusals == 1
    assert "wrong-key-123" not in str(info.value)
    await source.close()


async def test_server_down_at_start_then_up(sim: Simulator) -> None:
    await sim.pause()
    got: Collector[Event] = Collector()
    async with make_source(sim, snapshot=False) as source:
        source.events.subscribe(got)
        while source.current_status.failures < 2:
            await asyncio.sleep(0.01)
        assert source.current_status.state in (
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTING,
        )
        await sim.resume()
        await source.wait_connected()
        await sim.set("k", "v")
        await got.wait_count(1)
    assert keyed(got.items) == [("set", "k", "v")]


async def test_reconnect_delays_follow_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing listening, the delays asked for are exactly the policy's, jitter pinned."""
    with socket.socket() as probe:  # held, bound but not listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        await delays_when_refused(port, monkeypatch)


async def delays_when_refused(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = Backoff(initial=1, maximum=8, factor=2, jitter=0.5, rng=lambda: 0.75)
    source = PxServSource(api_key=API_KEY, url=f"http://127.0.0.1:{port}", backoff=policy)
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 6:
            source._closing.set()

    monkeypatch.setattr(source, "_sleep", record)
    await source.start()
    await source.wait_closed()
    # base 1,2,4,8,8,8 spread by ±50 % at draw 0.75 → ×1.25, capped at 8
    assert delays == [1.25, 2.5, 5.0, 8.0, 8.0, 8.0]
    await source.close()


MALFORMED_PAYLOADS: list[Any] = [
    None,
    "humidity",
    42,
    [],
    {"value": "1"},
    {"key": 5, "value": "1"},
    {"key": "", "value": "1"},
    {"key": "k"},
    {"key": "k", "value": None},
    {"key": "k", "value": True},
    {"key": "k", "value": {"nested": {"deeper": 1}}},
    {"key": "k", "value": [1, 2, 3]},
    {"key": "k", "value": "x" * 100 * 1024},
    {"key": "k", "value": "1", "icon": ["x"]},
]


async def test_malformed_payloads_are_counted_and_skipped(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    got: Collector[Event] = Collector()
    async with make_source(sim, snapshot=False) as source:
        source.events.subscribe(got)
        await source.wait_connected()
        for payload in MALFORMED_PAYLOADS:
            await sim.emit_raw("setData", payload)
        await sim.emit_raw("removeData", {"key": 7})
        await sim.set("good", "1")
        await got.wait_count(1)
        assert sum(source.stats.malformed.values()) == len(MALFORMED_PAYLOADS) + 1
    assert keyed(got.items) == [("set", "good", "1")]
    # rate-limited: one warning for the burst, not fifteen
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_raising_subscriber_does_not_break_the_stream(sim: Simulator) -> None:
    got: Collector[Event] = Collector()

    def explode(event: Event) -> None:
        raise RuntimeError("user bug")

    async with make_source(sim, snapshot=False) as source:
        source.events.subscribe(explode)
        source.events.subscribe(got)
        await source.wait_connected()
        await sim.set("a", "1")
        await sim.set("b", "2")
        await got.wait_count(2)
        assert source.stats.subscriber_errors >= 1
    assert [e.key for e in got.items] == ["a", "b"]


async def test_api_key_never_logged(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim.set_quietly("a", "1")
    async with make_source(sim) as source:
        got: Collector[Event] = Collector()
        source.events.subscribe(got)
        await got.wait_count(1)
        await sim.disconnect_all()
        await sim.set("b", "2")
        assert API_KEY not in repr(source)
    bad = make_source(sim, api_key="secret-bad-key-999")
    with pytest.raises(KeyRefusedError):
        await bad.wait_connected()
    await bad.close()
    assert caplog.records, "expected some log output at DEBUG"
    assert API_KEY not in caplog.text
    assert "secret-bad-key-999" not in caplog.text


async def reconnect_delays(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, stable_after: float | None = None
) -> list[float]:
    """The first 4 reconnect delays against a server that throws us out each time we get in
    (jitter pinned, so the delays are exact)."""
    policy = Backoff(initial=1, maximum=60, jitter=0.5, rng=lambda: 0.5)
    source = PxServSource(
        api_key=API_KEY, url=sim.url, snapshot=False, backoff=policy, stable_after=stable_after
    )
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(source, "_sleep", record)
    async with source:
        while len(delays) < 4:
            # Only once the client has its connection acknowledged: a namespace disconnect
            # sent while the server is still in its connect handler goes out before the
            # acknowledgement, and the client then believes a connection the server dropped
            # (python-socketio ignores a disconnect for a namespace it has not joined yet).
            connected = source.current_status.state is ConnectionState.CONNECTED
            if connected and sim.clients:
                await sim.disconnect_all()
            await asyncio.sleep(0.01)
    return delays[:4]


async def test_a_server_that_drops_us_at_once_gets_a_growing_backoff(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await reconnect_delays(sim, monkeypatch) == [2.0, 4.0, 8.0, 16.0]


async def test_a_connection_that_lasted_resets_the_backoff(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same server, but each connection counts as having lasted long enough: every
    reconnect waits the initial delay instead of a growing one."""
    assert await reconnect_delays(sim, monkeypatch, stable_after=0.0) == [1.0, 1.0, 1.0, 1.0]
