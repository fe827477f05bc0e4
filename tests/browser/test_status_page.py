"""The status page in a real headless Chromium against a real daemon and the simulator: a
firing alert appears within 2 s, a silence made on the page (with the keyboard) stops the next
notification at a real receiver, the charts show the readings sent, device text stays text,
and the page fits a phone. Screenshots are saved as artifacts (conftest.ARTIFACTS)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pxrules.testing.simulator import Simulator

from ..console.test_silences_live import rules_file
from ..daemon_proc import DaemonProc
from ..helpers import until
from ..receiver import Receiver
from .conftest import ARTIFACTS

TOKEN = "page-Token-7a2b"
FIRING = "#alerts tr[data-rule='freezer-warm'][data-key='kitchen/freezer'][data-state='firing']"


async def open_page(browser: Any, daemon: DaemonProc, **options: Any) -> Any:
    page = await browser.new_page(**options)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    await page.goto(daemon.health_url + "/")
    await page.locator("#conn[data-state='live']").wait_for(timeout=5000)
    return page


async def test_a_firing_alert_shows_within_two_seconds(
    sim: Simulator, rx: Receiver, tmp_path: Path, browser: Any
) -> None:
    daemon = await DaemonProc(rules_file(tmp_path, sim, rx), tmp_path / "s.db").start()
    page = await open_page(browser, daemon)
    assert await page.locator("#alerts").inner_text() == "No alerts firing or pending."
    for freezer, humidity in [("-21", "52"), ("-19", "58"), ("-16", "63"), ("-13", "66"),
                              ("-11", "61"), ("-14", "57")]:  # fmt: skip
        await sim.set("kitchen/freezer", freezer)
        await sim.set("humidity", humidity)
    await page.locator("#keys tr[data-key='humidity'] circle").nth(5).wait_for(timeout=2000)
    assert await page.locator("#alerts tr").count() == 0

    sent = time.monotonic()
    await sim.set("kitchen/freezer", "-2")
    await page.locator(FIRING).wait_for(timeout=2000)
    assert time.monotonic() - sent < 2.0
    row = page.locator(FIRING)
    assert "critical" in await row.inner_text() and "-2" in await row.inner_text()
    assert await page.title() == "(1) pxrules"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
    assert page.errors == []
    assert await daemon.stop() == 0


async def test_a_silence_made_on_the_page_stops_the_next_notification(
    sim: Simulator, rx: Receiver, tmp_path: Path, browser: Any
) -> None:
    rules = rules_file(tmp_path, sim, rx)
    daemon = await DaemonProc(rules, tmp_path / "s.db", "--http-token", TOKEN).start()
    page = await open_page(browser, daemon)
    await sim.set("kitchen/freezer", "-2")
    await page.locator(FIRING).wait_for(timeout=2000)
    await until(lambda: len(rx.to("/hook")) >= 1)  # the firing went out

    # With the keyboard: focus the row's button, Enter opens the dialog, fill it, Enter sends.
    await page.locator(f"{FIRING} button.silence").focus()
    await page.keyboard.press("Enter")
    assert await page.locator("#silence-dialog").is_visible()
    await page.select_option("#silence-duration", "2h")
    await page.locator("#silence-comment").fill("defrost")
    await page.keyboard.press("Enter")
    # The daemon wants its token: the dialog asks for it, and the second try goes through.
    await page.locator("#token-row").wait_for(state="visible", timeout=2000)
    assert "API token" in await page.locator("#silence-error").inner_text()
    await page.locator("#silence-token").fill(TOKEN)
    await page.keyboard.press("Enter")
    await page.locator(f"{FIRING}[data-silenced='true']").wait_for(timeout=2000)
    assert not await page.locator("#silence-dialog").is_visible()
    silence_row = page.locator("#silences tr[data-state='active']")
    assert "defrost" in await silence_row.inner_text()
    assert "rule=freezer-warm key=kitchen/freezer" in await silence_row.inner_text()
    _, listed = await daemon.request("GET", "/api/v1/silences")
    (made,) = listed["silences"]
    assert (made["created_by"], made["comment"]) == ("status page", "defrost")
    # the project too: in a daemon of several, another project's alert must stay loud
    assert made["matchers"] == {"project": rules.stem, "rule": "freezer-warm",
                                "key": "kitchen/freezer"}  # fmt: skip
    assert made["ends_at"] > made["starts_at"]

    await sim.set("kitchen/freezer", "-20")  # resolved: the notification is held back
    await daemon.wait_metric("pxrules_suppressed_notifications_total", 1, reason="silenced")
    assert [r.json()["state"] for r in rx.to("/hook")] == ["firing"]

    await page.locator("#silences button").click()  # expire: the held resolve goes out now
    await until(lambda: len(rx.to("/hook")) >= 2)
    assert [r.json()["state"] for r in rx.to("/hook")] == ["firing", "resolved"]
    await page.locator("#silences tr[data-state='expired']").wait_for(timeout=2000)
    assert [e for e in page.errors if "401 (Unauthorized)" not in e] == []  # the first try
    assert await daemon.stop() == 0


async def test_the_chart_shows_the_points_sent_and_device_text_stays_text(
    sim: Simulator, rx: Receiver, tmp_path: Path, browser: Any
) -> None:
    daemon = await DaemonProc(rules_file(tmp_path, sim, rx), tmp_path / "s.db").start()
    page = await open_page(browser, daemon)
    sent = ["-20", "-15", "oops", "-12", "-11", "-18"]
    for value in sent:
        await sim.set("kitchen/freezer", value)
    hostile = "<img src=x onerror=alert(1)>"
    await sim.set("kitchen/freezer-note", hostile)
    chart = page.locator("#keys tr[data-key='kitchen/freezer'] svg.chart")
    await chart.locator("circle").nth(4).wait_for(timeout=2000)
    drawn = await chart.locator("circle").evaluate_all(
        "nodes => nodes.map(n => Number(n.dataset.number))"
    )
    assert drawn == [float(v) for v in sent if v != "oops"]  # "oops" is a gap, not a point
    thresholds = await chart.locator("line.threshold").evaluate_all(
        "nodes => nodes.map(n => Number(n.dataset.threshold))"
    )
    assert thresholds == [-10.0]
    assert "6 readings, thresholds -10" in (await chart.get_attribute("aria-label") or "")

    note = page.locator("#keys tr[data-key='kitchen/freezer-note']")
    await note.wait_for(timeout=2000)
    assert hostile in await note.inner_text()
    assert await page.locator("img").count() == 0
    assert page.errors == []
    assert await daemon.stop() == 0


async def test_the_page_fits_a_phone(
    sim: Simulator, rx: Receiver, tmp_path: Path, browser: Any
) -> None:
    daemon = await DaemonProc(rules_file(tmp_path, sim, rx), tmp_path / "s.db").start()
    page = await open_page(browser, daemon, viewport={"width": 390, "height": 844})
    await sim.set("kitchen/freezer", "-2")
    await page.locator(FIRING).wait_for(timeout=2000)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    cell = page.locator(f"{FIRING} td[data-label='Rule']")
    assert await cell.inner_text() == "freezer-warm"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "status-page-phone.png"), full_page=True)
    assert await daemon.stop() == 0


async def test_with_two_projects_keys_show_their_project_and_a_silence_keeps_to_its_own(
    tmp_path: Path, browser: Any
) -> None:
    from ..test_projects import KEYS, connected, project_file, start

    async with Simulator(api_key=KEYS["greenhouse"], api_keys=[KEYS["cellar"]]) as sim, \
            Receiver() as rx:  # fmt: skip
        files = [project_file(tmp_path, name, sim, rx) for name in ("greenhouse", "cellar")]
        daemon = await start(*files, state=tmp_path / "s.db")
        await connected(daemon, 2)
        page = await open_page(browser, daemon)
        for name in ("greenhouse", "cellar"):
            await sim.project(KEYS[name]).set("t", "75")
        cellar = "#alerts tr[data-project='cellar'][data-key='t'][data-state='firing']"
        await page.locator(cellar).wait_for(timeout=2000)
        assert await page.locator("#project").inner_text() == "· 2 projects"
        assert "cellar · t" in await page.locator(cellar).inner_text()
        assert await page.locator("#keys tr[data-project='greenhouse']").inner_text() != ""
        await page.locator(f"{cellar} button.silence").click()
        assert "project = cellar" in await page.locator("#silence-what").inner_text()
        await page.select_option("#silence-duration", "2h")
        await page.locator("#silence-comment").fill("cellar door open")
        await page.keyboard.press("Enter")
        await page.locator(f"{cellar}[data-silenced='true']").wait_for(timeout=2000)
        loud = "#alerts tr[data-project='greenhouse'][data-silenced='false']"
        assert await page.locator(loud).count() == 1
        _, listed = await daemon.request("GET", "/api/v1/silences")
        assert [s["matchers"]["project"] for s in listed["silences"]] == ["cellar"]
        assert page.errors == []
        assert await daemon.stop() == 0
