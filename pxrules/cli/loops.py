"""``--loop auto|asyncio|uvloop``: which event loop a command runs on.

uvloop reads a PxServ stream faster than asyncio's default loop (docs/benchmarks.md). It is a
dependency where it builds (not on Windows); ``auto`` takes it when it is importable. The choice
is made here, for the command-line programs only: the library never installs a loop policy, so
an application that embeds it keeps the loop it chose (docs/embedding.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

T = TypeVar("T")
LOOPS = ("auto", "asyncio", "uvloop")

loop_option = click.option(
    "--loop",
    "loop",
    type=click.Choice(LOOPS),
    default="auto",
    show_default=True,
    help="Event loop: uvloop where installed (auto), or asyncio's own.",
)


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``choice`` (None: asyncio's default loop)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise click.UsageError("--loop uvloop: uvloop is not installed here") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_on(choice: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on the loop ``choice`` names."""
    factory = loop_factory(choice)  # a bad choice is reported before anything starts
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())
