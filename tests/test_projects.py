"""Many projects in one daemon (docs/rules.md `project`, docs/operations.md "Many projects"):
each rules file is one project with its own key, rules, notifiers and state; a bad file does
not stop the others; SIGHUP reloads each file on its own, and starts and stops the projects of
files added to or removed from a directory. Real daemons, one simulator serving several API
keys, one receiver."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from pxrules.daemon.store import Store
from pxrules.testing.simulator import Simulator

from .daemon_proc import DaemonProc, served_at
from .helpers import poll
from .receiver import Receiver

KEYS = {"greenhouse": "key-g", "cellar": "key-c", "attic": "key-a"}


def project_file(folder: Path, name: str, sim: Simulator, rx: Receiver, *, named: bool = False,
                 threshold: int = 70) -> Path:  # fmt: skip
    """A rules file for project ``name`` (named by ``project:``, or by the file's name)."""
    path = folder / (f"file-of-{name}.yaml" if named else f"{name}.yaml")
    path.write_text(
        (f"project: {name}\n" if named else "")
        + f"source: {{url: '{sim.url}', api_key: {KEYS[name]}}}\n"
        f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
        f"rules: [{{name: hot, key: t, when: {{above: {threshold}}}, resolve: true,"
        " notify: [hook]}]\n",
        encoding="utf-8",
    )
    return path


async def start(*args: str | Path, state: Path) -> DaemonProc:
    first, *rest = args
    daemon = DaemonProc(Path(first), state, *map(str, rest))
    await daemon.start(wait_connected=False)
    line = await daemon.wait_log(lambda m: m.startswith("serving http://"))
    daemon.health_url = served_at(line)
    return daemon


async def health(daemon: DaemonProc) -> dict:  # type: ignore[type-arg]
    return json.loads((await daemon.get("/healthz"))[1])  # type: ignore[no-any-return]


async def connected(daemon: DaemonProc, count: int) -> None:
    async def all_up() -> bool:
        body = await health(daemon)
        return len(body["projects"]) == count and body["connected"] is True

    await poll(all_up, 20)


def sent(rx: Receiver) -> list[tuple[str, str, str, str]]:
    return sorted((d["project"], d["rule"], d["state"], d["value"])
                  for d in (r.json() for r in rx.to("/hook")))  # fmt: skip


async def test_two_projects_in_one_daemon_each_alert_names_its_project(tmp_path: Path) -> None:
    async with Simulator(api_key=KEYS["greenhouse"], api_keys=[KEYS["cellar"]]) as sim, \
            Receiver() as rx:  # fmt: skip
        greenhouse = project_file(tmp_path, "greenhouse", sim, rx)
        cellar = project_file(tmp_path, "cellar", sim, rx, named=True)
        daemon = await start(greenhouse, cellar, state=tmp_path / "s.db")
        try:
            await connected(daemon, 2)
            await sim.project(KEYS["greenhouse"]).set("t", "75")
            await sim.project(KEYS["cellar"]).set("t", "60")  # below: nothing in the cellar
            await rx.requests.wait_for(lambda r: len(r) == 1)
            await sim.project(KEYS["cellar"]).set("t", "80")
            await rx.requests.wait_for(lambda r: len(r) == 2)
            _, body = await daemon.request("GET", "/api/v1/alerts")
            assert sorted((a["project"], a["key"], a["value"]) for a in body["alerts"]) == [
                ("cellar", "t", "80"), ("greenhouse", "t", "75"),
            ]  # fmt: skip
            status, body = await daemon.request("GET", "/api/v1/keys?project=cellar")
            assert status == 200
            assert [(k["project"], k["value"]) for k in body["keys"]] == [("cellar", "80")]
            code, out, _ = await daemon.cli("alerts")
            lines = out.splitlines()
            assert code == 0 and lines[0].split()[:2] == ["PROJECT", "STATE"]
            assert sorted(line.split()[0] for line in lines[1:]) == ["cellar", "greenhouse"]
            code, out, _ = await daemon.cli("keys")
            assert code == 0 and out.splitlines()[0].split()[0] == "PROJECT"
            assert await daemon.metric("pxrules_alerts_total", project="cellar") == 1
            assert await daemon.metric("pxrules_alerts_total", project="greenhouse") == 1
            body = await health(daemon)
            assert [(p["project"], p["connected"], p["rules"]) for p in body["projects"]] == [
                ("greenhouse", True, 1), ("cellar", True, 1),
            ]  # fmt: skip
        finally:
            assert await daemon.stop() == 0
    assert sent(rx) == [("cellar", "hot", "firing", "80"), ("greenhouse", "hot", "firing", "75")]
    ids = [r.json()["id"] for r in rx.to("/hook")]
    assert len(set(ids)) == 2  # same rule and key names, two projects: two different ids
    assert any(m.startswith("cellar: connected to ") for m in daemon.messages())
    assert any(m.startswith("cellar: delivered firing of rule hot, key t to hook")
               for m in daemon.messages())  # fmt: skip
    store = Store.open(str(tmp_path / "s.db"))
    try:  # each project's state is its own
        assert sorted(store.projects()) == ["cellar", "greenhouse"]
        cellar_state = store.load_engine_state(project="cellar")
        assert cellar_state is not None and cellar_state["values"]["t"][0] == "80"
    finally:
        store.close()


async def test_a_bad_file_does_not_stop_the_others_and_sighup_starts_and_stops_projects(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "projects"
    folder.mkdir()
    async with Simulator(api_key=KEYS["greenhouse"], api_keys=[KEYS["cellar"], KEYS["attic"]]) \
            as sim, Receiver() as rx:  # fmt: skip
        project_file(folder, "greenhouse", sim, rx)
        broken = folder / "cellar.yaml"
        broken.write_text("rules: [{name: hot, key: t, when: {abvoe: 70}}]\n", encoding="utf-8")
        daemon = await start(folder, state=tmp_path / "s.db")
        try:
            await connected(daemon, 1)
            body = await health(daemon)
            assert body["status"] == "degraded" and list(body["broken"]) == [str(broken)]
            assert any("unknown field 'abvoe'" in m for m in daemon.messages())
            # fixed, and a third file added: SIGHUP starts both
            project_file(folder, "cellar", sim, rx)
            project_file(folder, "attic", sim, rx)
            daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            await connected(daemon, 3)
            assert "broken" not in await health(daemon)
            await sim.project(KEYS["attic"]).set("t", "90")
            await rx.requests.wait_for(lambda r: len(r) == 1)
            # the greenhouse file removed: its project stops; the others go on
            (folder / "greenhouse.yaml").unlink()
            daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            await connected(daemon, 2)
            await sim.project(KEYS["greenhouse"]).set("t", "99")  # nobody watches it now
            await sim.project(KEYS["cellar"]).set("t", "91")
            await rx.requests.wait_for(lambda r: len(r) == 2)
            assert [p["project"] for p in (await health(daemon))["projects"]] == [
                "attic", "cellar",
            ]  # fmt: skip
        finally:
            assert await daemon.stop() == 0
    assert sent(rx) == [("attic", "hot", "firing", "90"), ("cellar", "hot", "firing", "91")]
    gone = f"{folder / 'greenhouse.yaml'} is gone: stopping project greenhouse"
    assert gone in daemon.messages()


async def test_two_files_naming_one_project_the_second_is_refused(tmp_path: Path) -> None:
    async with Simulator(api_key=KEYS["greenhouse"], api_keys=[KEYS["cellar"]]) as sim, \
            Receiver() as rx:  # fmt: skip
        first = project_file(tmp_path, "greenhouse", sim, rx)
        second = tmp_path / "copy.yaml"
        second.write_text("project: greenhouse\n" + first.read_text(), encoding="utf-8")
        daemon = await start(first, second, state=tmp_path / "s.db")
        try:
            await connected(daemon, 1)
            body = await health(daemon)
            assert "is already that of" in body["broken"][str(second)]
        finally:
            assert await daemon.stop() == 0


async def test_each_project_restarts_from_its_own_state(tmp_path: Path) -> None:
    """Restarted, each project knows its alerts fire (no second firing) and resolves them."""
    async with Simulator(api_key=KEYS["greenhouse"], api_keys=[KEYS["cellar"]]) as sim, \
            Receiver() as rx:  # fmt: skip
        files = [project_file(tmp_path, name, sim, rx) for name in ("greenhouse", "cellar")]
        daemon = await start(*files, state=tmp_path / "s.db")
        await connected(daemon, 2)
        for name in ("greenhouse", "cellar"):
            await sim.project(KEYS[name]).set("t", "75")
        await rx.requests.wait_for(lambda r: len(r) == 2)
        await daemon.wait_metric_at_most("pxrules_outbox_depth", 0)
        assert await daemon.stop() == 0
        daemon = await start(*files, state=tmp_path / "s.db")
        try:
            await connected(daemon, 2)
            await sim.project(KEYS["cellar"]).set("t", "50")
            await rx.requests.wait_for(lambda r: len(r) == 3)
        finally:
            assert await daemon.stop() == 0
    assert sent(rx) == [
        ("cellar", "hot", "firing", "75"), ("cellar", "hot", "resolved", "50"),
        ("greenhouse", "hot", "firing", "75"),
    ]  # fmt: skip


async def test_thirty_projects_in_one_daemon_each_delivers_its_own_alert(tmp_path: Path) -> None:
    keys = [f"key-{i:02d}" for i in range(30)]
    folder = tmp_path / "projects"
    folder.mkdir()
    async with Simulator(api_key=keys[0], api_keys=keys[1:]) as sim, Receiver() as rx:
        for i, key in enumerate(keys):
            (folder / f"site-{i:02d}.yaml").write_text(
                f"source: {{url: '{sim.url}', api_key: {key}}}\n"
                f"notifiers: {{hook: {{webhook: {{url: '{rx.url('/hook')}'}}}}}}\n"
                "rules: [{name: hot, key: t, when: {above: 70}, notify: [hook]}]\n",
                encoding="utf-8",
            )
        daemon = await start(folder, state=tmp_path / "s.db")
        try:
            await connected(daemon, 30)
            for i, key in enumerate(keys):
                await sim.project(key).set("t", str(71 + i))
            await rx.requests.wait_for(lambda r: len(r) == 30, 30)
        finally:
            assert await daemon.stop() == 0
    got = {d["project"]: d["value"] for d in (r.json() for r in rx.to("/hook"))}
    assert got == {f"site-{i:02d}": str(71 + i) for i in range(30)}


async def test_a_refused_key_stops_its_project_only(tmp_path: Path) -> None:
    async with Simulator(api_key=KEYS["greenhouse"]) as sim, Receiver() as rx:
        good = project_file(tmp_path, "greenhouse", sim, rx)
        refused = project_file(tmp_path, "cellar", sim, rx)  # its key is not served
        daemon = await start(good, refused, state=tmp_path / "s.db")
        try:
            await connected(daemon, 1)
            body = await health(daemon)
            assert body["broken"] == {str(refused): "PxServ refused the API key: Invalid API key."}
            await sim.set("t", "75")
            await rx.requests.wait_for(lambda r: len(r) == 1)
        finally:
            assert await daemon.stop() == 0
    assert sent(rx) == [("greenhouse", "hot", "firing", "75")]
    assert any(m.startswith("cellar: PxServ refused the API key") for m in daemon.messages())
