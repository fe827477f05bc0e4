"""``pxrules fleet status``: the members of a fleet and who owns which project, read from its
PostgreSQL database."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ExitCode
from .options import format_option
from .remote import fail, table


@click.group(short_help="A fleet of daemons on one PostgreSQL database.")
def fleet() -> None:
    """Daemons sharing projects through one PostgreSQL database (`run --state postgresql://…`)."""


@fleet.command(
    epilog="\b\nExamples:\n  pxrules fleet status --state postgresql://pxrules@db/pxrules"
    "\n  PXRULES_STATE=postgresql://… pxrules fleet status --format json"
    "\n\nExit codes: 0 listed, 2 the database cannot be reached.",
)
@click.option(
    "--state",
    "state_path",
    envvar="PXRULES_STATE",
    required=True,
    metavar="postgresql://…",
    help="The fleet's database, as given to `pxrules run` [env: PXRULES_STATE].",
)
@format_option("text: tables; json: members and projects.")
def status(state_path: str, fmt: str) -> None:
    """Members (host, PID, heartbeat age) and projects (owner, epoch, lease expiry, pending
    notifications)."""
    from ..daemon.pgstore import PgStore, is_postgres
    from ..daemon.store import StoreError

    if not is_postgres(state_path):
        fail("fleet status needs --state postgresql://… (a fleet's database)", ExitCode.USAGE)
    try:
        store = PgStore.open(state_path)
    except StoreError as exc:
        fail(f"cannot reach the fleet's database: {exc}", ExitCode.USAGE)
    try:
        found = store.fleet_status()
    except StoreError as exc:
        fail(str(exc), ExitCode.USAGE)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    click.echo(_text(found))


def _text(found: dict[str, Any]) -> str:
    members = [[m["id"], m["host"], m["pid"], m["version"], f"{m['heartbeat_age']:.1f}s ago"]
               for m in found["members"]]  # fmt: skip
    owned: dict[str, int] = {}
    for p in found["projects"]:
        if p["owner"] is not None and p["lease_expires_in"] > 0:
            owned[p["owner"]] = owned.get(p["owner"], 0) + 1
    for row in members:
        row.append(owned.get(row[0], 0))
    projects = [
        [p["project"], p["owner"] or "(none)", p["epoch"], _expiry(p["lease_expires_in"]),
         p["pending"]]
        for p in found["projects"]
    ]  # fmt: skip
    parts = [
        f"{len(members)} member(s)",
        table(["MEMBER", "HOST", "PID", "VERSION", "HEARTBEAT", "LEASES"], members)
        if members
        else "(no member is running)",
        "",
        f"{len(projects)} project(s)",
        table(["PROJECT", "OWNER", "EPOCH", "LEASE", "PENDING"], projects)
        if projects
        else "(no project yet)",
    ]
    return "\n".join(parts)


def _expiry(left: float) -> str:
    return f"expires in {left:.1f}s" if left > 0 else f"expired {-left:.1f}s ago"
