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


# -- PostgreSQL (--state postgresql://…) ------------------------------------------------------


class Postgres:
    """A real PostgreSQL server of the test run's own (pgserver's wheel carries the binaries),
    on a Unix socket in its data directory; stopped and started again at will."""

    def __init__(self) -> None:
        import os
        import tempfile
        import uuid

        # Not under pytest's tmp_path: run as root, pgserver runs the server as a user of its
        # own, who must be able to reach the folder (pytest's are private to root).
        self.folder = os.path.join(tempfile.gettempdir(), f"pxrules-pg-{uuid.uuid4().hex[:12]}")
        runtime = os.path.join(tempfile.gettempdir(), f"pxrules-pg-run-{os.getuid()}")
        os.makedirs(runtime, mode=0o700, exist_ok=True)  # pgserver's lock files
        os.environ.setdefault("XDG_RUNTIME_DIR", runtime)
        self.server = self._start()

    def _start(self):  # type: ignore[no-untyped-def]
        import pgserver

        return pgserver.get_server(self.folder, cleanup_mode="stop")

    def url(self, database: str = "postgres") -> str:
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        self.server.cleanup()

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        self.server = self._start()

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.remove()


@pytest.fixture
def pg_url(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    """A new, empty database for this test."""
    import re

    return postgres.new_database(re.sub(r"\W", "_", request.node.name)[:60].lower())
