"""Test helpers: collecting from Observables and waiting for conditions without timing asserts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Collector(Generic[T]):
    """An observer that stores items and lets a test await a condition on them."""

    def __init__(self) -> None:
        self.items: list[T] = []
        self.completed = False
        self.error: Exception | None = None
        self._changed = asyncio.Event()

    def __call__(self, item: T) -> None:
        self.items.append(item)
        self._changed.set()

    def on_next(self, item: T) -> None:
        self(item)

    def on_error(self, error: Exception) -> None:
        self.error = error
        self._changed.set()

    def on_completed(self) -> None:
        self.completed = True
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[T]], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(items)`` holds; fail the test after ``timeout`` seconds."""

        async def loop() -> None:
            while not predicate(self.items):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met in {timeout}s; got {self.items!r}") from None

    async def wait_count(self, n: int, timeout: float = 10.0) -> None:
        await self.wait_for(lambda items: len(items) >= n, timeout)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is truthy (checked every 50 ms); fail after ``timeout`` seconds."""
    await poll(lambda: asyncio.sleep(0, check()), timeout)


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Await ``probe()`` until it returns something truthy; return that. Fail the test after
    ``timeout`` seconds."""

    async def loop() -> Any:
        while not (found := await probe()):
            await asyncio.sleep(0.05)
        return found

    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"condition not met in {timeout}s") from None
