"""The browser the status page is tested in: Debian's Chromium (``make browser`` installs it),
driven by Playwright with the system binary — never a browser Playwright downloads.

Without one, the tests are skipped and the run says so loudly at its end; under CI (``CI`` set)
a missing browser fails them instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

#: Flags for a headless Chromium on a machine with no network and no display (as root too).
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip
#: Where screenshots go (a CI run keeps this folder as its artifacts).
ARTIFACTS = Path(os.environ.get("PXRULES_ARTIFACTS", "build/test-artifacts"))
SKIPPED: list[str] = []


def chromium_path() -> str | None:
    given = os.environ.get("PXRULES_CHROMIUM")
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    if path is None:
        message = (
            "no Chromium: the status page's browser tests did not run. Install one with "
            "`sudo apt-get install chromium` (or `make browser` as root), or point "
            "PXRULES_CHROMIUM at a Chromium binary"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        SKIPPED.append(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SKIPPED:
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(SKIPPED[0], red=True)
