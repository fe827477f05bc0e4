"""``pxrules replay``: the command around :class:`pxrules.replay.Replayer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from .alerts import Alert
from .replay import RecordError, Replayer, read_records
from .rulefmt import load_file
from .rules import RuleSet

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def run_replay(
    rules_file: Path, events_file: Path, fmt: str, send: bool, out: IO[str], err: IO[str]
) -> int:
    """Replay ``events_file`` through the rules; print alerts; return the exit code."""
    if send:
        err.write("pxrules replay: --send is not available yet (it arrives with `pxrules run`)\n")
        return EXIT_USAGE
    # Replay delivers nothing, so a secret left unset (${PXSERV_API_KEY}) is only a warning.
    loaded = load_file(rules_file, strict_env=False)
    for problem in loaded.problems:
        err.write(f"{problem}\n")
    if not loaded.ok or loaded.config is None:
        return EXIT_INVALID
    if not events_file.is_file():
        err.write(f"{events_file}: cannot read the events file\n")
        return EXIT_INVALID

    def emit(alert: Alert) -> None:
        if fmt == "json":
            out.write(json.dumps(alert.to_document(), ensure_ascii=False) + "\n")
        else:
            out.write(alert.text_line() + "\n")

    replayer = Replayer(RuleSet(loaded.config), emit)
    errors = 0
    for _, item in read_records(events_file):
        if isinstance(item, RecordError):
            errors += 1
            err.write(f"{events_file}:{item.line}: error: {item.message}\n")
            continue
        replayer.feed(item)
    replayer.finish()
    if replayer.out_of_order:
        err.write(
            f"{events_file}: warning: {replayer.out_of_order} records went back in time; "
            "they were replayed at the time of the record before them\n"
        )
    return EXIT_INVALID if errors else EXIT_OK
