"""Saving the engine's state to the store: what changed every few seconds, everything after a
failure or a reload, and the hourly pruning of old delivery records."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ..engine import Engine
from .memory import release_free_memory
from .store import BACKGROUND, ProjectStore, StoreError

log = logging.getLogger("pxrules.daemon")

CHECKPOINT_CHUNK = 50  # values or tracks per checkpoint transaction
PRUNE_EVERY = 3600.0
#: A checkpoint of at least this many rows means a burst came: freed memory is given back.
BURST_ROWS = 1000


class Checkpointer:
    """Writes an engine's state (``engine()`` is the current one: a reload replaces it)."""

    def __init__(
        self, store: ProjectStore, engine: Callable[[], Engine | None], interval: float
    ) -> None:
        self.store = store
        self._engine = engine
        self.interval = interval
        self.events_since = 0  # events seen since the last checkpoint
        self.rows_since_trim = 0  # rows checkpointed since memory was last given back
        self.last_rows = 0  # rows in the last checkpoint
        self._failed = False

    async def checkpoint(self, *, full: bool = False) -> None:
        """Save what changed since the last checkpoint (or everything, after a failure or a
        reload, so nothing that failed to save is forgotten)."""
        engine = self._engine()
        if engine is None:
            return
        full = full or self._failed
        store = self.store
        try:
            if full:
                await store.run(store.checkpoint, engine.snapshot(durable=True), full=True)
            else:
                # Piece by piece, each piece its own background transaction: the event loop
                # never stops long to collect a large checkpoint, and an alert's outbox write
                # waits for at most the one piece being written. What changes meanwhile is
                # taken in the next checkpoint (the budget keeps this one from chasing it).
                budget = self.last_rows = engine.pending_changes
                self.rows_since_trim += budget
                while budget > 0 and engine.pending_changes:
                    piece = engine.changes(limit=CHECKPOINT_CHUNK)
                    budget -= CHECKPOINT_CHUNK
                    await store.run(store.checkpoint, piece, full=False, priority=BACKGROUND)
            await store.run(store.compact, priority=BACKGROUND)
            self.events_since = 0
            self._failed = False
        except asyncio.CancelledError:
            self._failed = True  # a piece taken may be unwritten: the next one is full
            raise
        except StoreError as exc:
            self._failed = True
            log.error("%s; state is kept in memory and saved again later", exc)

    async def run(self) -> None:
        """Checkpoint every ``interval`` seconds while there is something new; prune hourly."""
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            moved = await self.store.run(self.store.verify_file)
            if moved:
                log.error("%s", moved)
            self.last_rows = 0
            if self.events_since or not self.store.healthy:
                await self.checkpoint()
            if self.rows_since_trim >= BURST_ROWS and self.last_rows < BURST_ROWS // 10:
                self.rows_since_trim = 0  # a burst came and is over: give its memory back
                await self.store.run(release_free_memory, priority=BACKGROUND)
            if time.monotonic() - last_prune > PRUNE_EVERY:
                with contextlib.suppress(StoreError):
                    await self.store.run(self.store.prune, time.time())
                last_prune = time.monotonic()
