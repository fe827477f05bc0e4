from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pxrules.backoff import Backoff
from pxrules.simulator import Simulator

API_KEY = "test-key-Zq81"
FAST = Backoff(initial=0.02, maximum=0.1, jitter=0.0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(api_key=API_KEY) as simulator:
        yield simulator
