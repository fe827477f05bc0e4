"""``pxrules replay``: the command around :class:`pxrules.replay.Replayer`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import IO

from ..alerts import Alert
from ..daemon.store import OutboxItem
from ..engine.machine import RuleSet
from ..engine.replay import RecordError, Replayer, read_records
from ..rules.load import Config, load_file

EXIT_OK, EXIT_INVALID = 0, 1


def run_replay(
    rules_file: Path, events_file: Path, fmt: str, send: bool, out: IO[str], err: IO[str]
) -> int:
    """Replay ``events_file`` through the rules; print alerts; return the exit code."""
    # Without --send nothing is delivered, so a secret left unset is only a warning.
    loaded = load_file(rules_file, strict_env=send)
    for problem in loaded.problems:
        err.write(f"{problem}\n")
    if not loaded.ok or loaded.config is None:
        return EXIT_INVALID
    if not events_file.is_file():
        err.write(f"{events_file}: cannot read the events file\n")
        return EXIT_INVALID

    sent: list[Alert] = []

    def emit(alert: Alert) -> None:
        if send:
            sent.append(alert)
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
    if send and sent:
        undelivered = asyncio.run(deliver(loaded.config, sent))
        if undelivered:
            err.write(f"pxrules replay: {undelivered} notification(s) could not be delivered\n")
            return EXIT_INVALID
    return EXIT_INVALID if errors else EXIT_OK


async def deliver(config: Config, alerts: list[Alert], grace: float = 60.0) -> int:
    """Send replayed alerts through the rules' notifiers; return how many were not delivered."""
    import aiohttp

    from ..daemon.delivery import Dispatcher
    from ..daemon.notifiers import build_targets

    notify = {rule.name: rule.notify for rule in config.rules}
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(
            build_targets(config.notifiers, config.source, session),
            None,
            retry_for={name: min(spec.retry_for, grace) for name, spec in config.notifiers.items()},
        )
        dispatcher.start()
        now = time.time()
        for alert in alerts:
            document = alert.to_document()
            for notifier in notify.get(alert.rule, ("log",)):
                for target in dispatcher.targets_of(notifier):
                    dispatcher.submit(OutboxItem(alert.id, target, notifier, document, now, 0, now))
        await dispatcher.drain(grace)
        delivered = sum(
            count for (_, outcome), count in dispatcher.stats.notifications.items()
            if outcome == "delivered"
        )  # fmt: skip
        expected = sum(
            len(dispatcher.targets_of(n)) for a in alerts for n in notify.get(a.rule, ("log",))
        )
        return expected - delivered
