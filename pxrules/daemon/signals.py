"""Running an asyncio main until SIGINT/SIGTERM (or a duration) says stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Mapping


@contextlib.contextmanager
def signal_handlers(handlers: Mapping[signal.Signals, Callable[[], object]]) -> Iterator[None]:
    """Install loop signal handlers inside the block; remove them after (where supported)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig, handler in handlers.items():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def stop_on_signals(stop: asyncio.Event) -> contextlib.AbstractContextManager[None]:
    """Set ``stop`` on SIGINT/SIGTERM while inside the block."""
    return signal_handlers({signal.SIGINT: stop.set, signal.SIGTERM: stop.set})


async def wait_for_stop(stop: asyncio.Event, duration: float | None) -> None:
    """Return when ``stop`` is set or ``duration`` seconds have passed."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration)
