"""Finding 6: the state file deleted or replaced while the daemon runs is noticed. Deleted: it
is recreated at its path from the copy SQLite still holds open (pending deliveries, alert
states and the id salt included). Replaced by another file: that file is left untouched, the
state goes on in a file next to it, and /healthz says so."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pxrules.testing.simulator import Simulator

from ..conftest import API_KEY
from ..daemon_proc import DaemonProc
from ..receiver import Receiver, Reply

RULES = "rules: [{name: hot, keys: ['t*'], when: {above: 50}, notify: [hook]}]\n"


def _rules(tmp_path: Path, sim: Simulator, rx: Receiver) -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"source: {{url: '{sim.url}', api_key: {API_KEY}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n" + RULES
    )
    return rules


def _outbox(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT status, json_extract(document, '$.key') FROM outbox").fetchall()


def _salt(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT value FROM meta WHERE key='id_salt'").fetchone()[0])


async def test_a_deleted_state_file_is_recreated_with_its_contents(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    hang = [Reply(hang=True)]  # the firing stays pending: it must survive the deletion
    async with Simulator(api_key=API_KEY) as sim, Receiver({"/hook": hang}) as rx:
        daemon = await DaemonProc(_rules(tmp_path, sim, rx), state, "--grace", "0").start()
        salt = _salt(state)
        await sim.set("t", "99")
        await rx.requests.wait_for(lambda got: len(got) == 1)
        for part in tmp_path.glob("s.db*"):
            part.unlink()
        await daemon.wait_log(lambda m: "was deleted while running: recreated it" in m)
        assert state.exists()
        code, body = await daemon.get("/healthz")
        assert code == 200 and json.loads(body)["state_file"] == "ok"
        await sim.set("t2", "99")  # its notification is written to the recreated file
        firing = {"rule": "hot", "state": "firing"}
        await daemon.wait_metric("pxrules_alerts_total", 2, **firing)
        assert await daemon.stop() == 0
    assert _salt(state) == salt
    assert sorted(_outbox(state)) == [("pending", "t"), ("pending", "t2")]
    assert oct(state.stat().st_mode & 0o777) == "0o600"


async def test_a_replaced_state_file_is_left_alone_and_reported(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    async with Simulator(api_key=API_KEY) as sim, Receiver() as rx:
        daemon = await DaemonProc(_rules(tmp_path, sim, rx), state).start()
        await sim.set("t", "99")
        await rx.requests.wait_for(lambda got: len(got) == 1)
        replacement = tmp_path / "other.txt"
        replacement.write_text("somebody else's file\n")
        replacement.replace(state)
        line = await daemon.wait_log(lambda m: "was replaced by another file" in m)
        code, body = await daemon.get("/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "degraded"
        assert "replaced by another file" in health["state_file"]
        assert await daemon.stop() == 0
    assert state.read_text() == "somebody else's file\n"
    (recovered,) = tmp_path.glob("s.db.recovered-*[0-9]")
    assert str(recovered) in line
    assert _outbox(recovered) == [("delivered", "t")]
