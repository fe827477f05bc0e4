"""Run `pxrules run` as a real subprocess and watch its JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .helpers import Collector

#: Every daemon a test started; the autouse fixture in conftest kills leftovers after each test.
RUNNING: set[DaemonProc] = set()


class DaemonProc:
    def __init__(self, rules: Path, state: Path, *extra: str, env: dict[str, str] | None = None):
        self.args = [
            sys.executable, "-m", "pxrules", "run", str(rules), "--state", str(state),
            "--http", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug", *extra,
        ]  # fmt: skip
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.logs: Collector[dict[str, Any]] = Collector()
        self.raw: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.health_url = ""
        self._reader: asyncio.Task[None] | None = None

    async def start(self, wait_connected: bool = True) -> DaemonProc:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        RUNNING.add(self)
        self._reader = asyncio.ensure_future(self._read())
        if wait_connected:
            await self.wait_log(lambda m: m.startswith("connected to "))
            line = await self.wait_log(lambda m: m.startswith("serving http://"))
            self.health_url = served_at(line)
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self.raw.append(text)
            try:
                self.logs(json.loads(text))
            except json.JSONDecodeError:
                self.logs({"message": text, "level": "raw"})

    def messages(self) -> list[str]:
        return [str(entry.get("message", "")) for entry in self.logs.items]

    async def wait_log(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        await self.logs.wait_for(
            lambda items: any(predicate(str(e.get("message", ""))) for e in items), timeout
        )
        return next(m for m in self.messages() if predicate(m))

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.health_url + path) as response:
            return response.status, await response.text()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One API call; the status and the JSON body."""
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.health_url + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def cli(self, *args: str, token: str | None = None) -> tuple[int, str, str]:
        """``pxrules ARGS --http THIS_DAEMON`` in a process of its own: exit code, out, err."""
        extra = ["--http", self.health_url.removeprefix("http://")]
        if token is not None:
            extra += ["--http-token", token]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pxrules", *args, *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def metric(self, name: str, **labels: str) -> float:
        _, text = await self.get("/metrics")
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total

    async def wait_metric(
        self, name: str, minimum: float, timeout: float = 20.0, **labels: str
    ) -> None:
        """Until the metric (summed over the samples with ``labels``) is at least ``minimum``."""
        assert minimum > 0, "a metric is always at least 0: use wait_metric_at_most"

        async def poll() -> None:
            while await self.metric(name, **labels) < minimum:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout)

    async def wait_metric_at_most(
        self, name: str, maximum: float, timeout: float = 20.0, **labels: str
    ) -> None:
        """Until the metric is at most ``maximum`` (an outbox drained, a connection lost)."""

        async def poll() -> None:
            while await self.metric(name, **labels) > maximum:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


def served_at(line: str) -> str:
    """``http://HOST:PORT`` from the daemon's "serving http://HOST:PORT — …" line."""
    return line.split()[1]
