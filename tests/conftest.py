from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pxrules.backoff import Backoff
from pxrules.testing.simulator import Simulator

from .receiver import Receiver

API_KEY = "test-key-Zq81"
FAST = Backoff(initial=0.02, maximum=0.1, jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture
async def rx() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 that answers 200 and records every request."""
    async with Receiver() as receiver:
        yield receiver


@pytest.fixture(autouse=True)
def no_daemon_left_behind() -> Iterator[None]:
    """A test that fails half-way must not leave `pxrules run` processes running."""
    from .daemon_proc import RUNNING

    yield
    for daemon in list(RUNNING):
        daemon.kill()
        RUNNING.discard(daemon)
