"""A TCP proxy on 127.0.0.1 that can make the connections it carries go silent."""

from __future__ import annotations

import asyncio
import contextlib


class SilenceableProxy:
    """Forwards to ``target_port`` (or the Unix socket ``target_unix``). :meth:`silence`
    blackholes every connection open now (bytes are swallowed, sockets stay open: a dead peer
    behind a NAT); new connections work, unless :meth:`cut` (a partition: every connection,
    new ones too, is silent until :meth:`heal`)."""

    def __init__(self, target_port: int = 0, *, target_unix: str | None = None) -> None:
        self.target_port = target_port
        self.target_unix = target_unix
        self.cut_off = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._live: list[asyncio.Event] = []  # one per connection: set = forwarding
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilenceableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def silence(self) -> None:
        for flag in self._live:
            flag.clear()

    def cut(self) -> None:
        """A partition: what is open goes silent, and new connections are accepted and never
        answered."""
        self.cut_off = True
        self.silence()

    def heal(self) -> None:
        """New connections work again (the silenced ones stay dead, as after a real cut)."""
        self.cut_off = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.target_unix is not None:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.target_unix)
        else:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        self._writers += [writer, upstream_writer]
        live = asyncio.Event()
        if not self.cut_off:
            live.set()
        self._live.append(live)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink, live))
            self._tasks.add(task)

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, live: asyncio.Event
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await source.read(65536):
                if live.is_set():
                    sink.write(data)
                    await sink.drain()
            sink.close()
