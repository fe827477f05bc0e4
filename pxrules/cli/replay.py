"""``pxrules replay``: back-test rules on recorded events (pxrules.engine.replay.Replayer)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from ..alerts import Alert, is_group
from ..errors import ExitCode
from ..events import format_time
from ..rules import load_file
from .options import format_option

if TYPE_CHECKING:
    from ..engine import Silence


@click.command(
    short_help="Back-test rules on recorded events.",
    epilog="\b\nExamples:\n  pxrules tail > ev.jsonl              # record live events"
    "\n  pxrules replay rules.yaml ev.jsonl   # what would have fired, and when\n\n"
    "Exit codes: 0 done, 1 invalid rules or records (or undelivered with --send), "
    "2 unreadable file.",
)
@click.argument("rules_file", type=click.Path(path_type=Path))
@click.argument("events_file", type=click.Path(path_type=Path))
@format_option("text: AT STATE RULE KEY=VALUE per alert; json: one alert document per line.")
@click.option("--send", is_flag=True, help="Deliver the alerts through the notifiers.")
@click.option("--url", default=None, help="PxServ URL for pxserv notifiers (with --send).")
@click.option("--api-key", default=None, help="Project key for pxserv notifiers (with --send).")
@click.option(
    "--silences",
    "silences_file",
    default=None,
    type=click.Path(path_type=Path),
    help="A YAML or JSON list of silences (matchers, starts_at, ends_at or duration) in force "
    "during the replay.",
)
@click.option(
    "--show-suppressed",
    is_flag=True,
    help="Also print the notifications held back by a silence, inhibition, a time window or "
    "flapping (text: AT REASON STATE RULE KEY=VALUE (WHY); json: "
    '{"suppressed": {"at", "reason", "state", "rule", "key", "value", "by"}}).',
)
def replay(
    rules_file: Path, events_file: Path, fmt: str, send: bool, url: str | None,
    api_key: str | None, silences_file: Path | None, show_suppressed: bool,
) -> None:  # fmt: skip
    """Back-test rules on recorded events in virtual time; print the alerts."""
    source = {name: value for name, value in (("url", url), ("api_key", api_key)) if value}
    code = run_replay(
        rules_file, events_file, fmt, send, sys.stdout, sys.stderr, source=source,
        silences_file=silences_file, show_suppressed=show_suppressed,
    )  # fmt: skip
    sys.exit(code)


def run_replay(
    rules_file: Path,
    events_file: Path,
    fmt: str,
    send: bool,
    out: IO[str],
    err: IO[str],
    *,
    source: Mapping[str, str] | None = None,
    silences_file: Path | None = None,
    show_suppressed: bool = False,
) -> ExitCode:
    """Replay ``events_file`` through the rules; print alerts (and, on stderr, a summary and a
    progress bar when stderr is a terminal); return the exit code."""
    from ..daemon.routing import event_rules
    from ..engine import RuleSet, SilenceBook
    from ..engine.buffers import Buffers
    from ..engine.gate import Suppressed
    from ..engine.replay import RecordError, Replayer, read_records

    # Without --send nothing is delivered, so a secret left unset is only a warning.
    loaded = load_file(rules_file, strict_env=send, source=source)
    for problem in loaded.problems:
        err.write(f"{problem}\n")
    if loaded.unreadable:
        return ExitCode.USAGE
    if not loaded.ok or loaded.config is None:
        return ExitCode.INVALID
    try:
        if events_file.is_dir():
            raise IsADirectoryError(21, "is a directory")
        size = events_file.stat().st_size
    except OSError as exc:
        err.write(f"{events_file}: cannot read the events file: {exc.strerror or exc}\n")
        return ExitCode.USAGE

    silences: SilenceBook | None = None
    if silences_file is not None:
        loaded_silences = read_silences(silences_file)
        if isinstance(loaded_silences, str):
            err.write(f"{silences_file}: {loaded_silences}\n")
            return ExitCode.USAGE
        silences = SilenceBook(loaded_silences)

    sent: list[Alert] = []
    alerts = suppressed = 0
    config = loaded.config
    notify = {rule.name: rule.notify for rule in config.rules}
    buffers: Buffers | None = None

    def emit(alert: Alert) -> None:
        nonlocal alerts
        alerts += 1
        if send:
            sent.append(alert)
        if fmt == "json":
            out.write(json.dumps(alert.to_document(), ensure_ascii=False) + "\n")
        else:
            out.write(alert.text_line() + "\n")
        if buffers is not None:
            for notifier in notify[alert.rule]:
                if buffers.wants(notifier):
                    buffers.add(notifier, alert.to_document())

    def buffered(notifier: str, document: dict[str, Any]) -> None:
        """What a grouped notifier, or one with time windows, is sent (and when)."""
        if not show_suppressed:
            return
        assert buffers is not None
        at = format_time(buffers.scheduler.now)
        if fmt == "json":
            line = {"at": at, "notifier": notifier, "document": document}
            out.write(json.dumps({"buffered": line}, ensure_ascii=False) + "\n")
        elif is_group(document):
            listed = ", ".join(f"{a['state']} {a['rule']} {a['key']}={a['value']}"
                               for a in document["alerts"])  # fmt: skip
            out.write(f"{at} grouped {notifier} {document['group_key']} "
                      f"{document['status']}: {listed}\n")  # fmt: skip
        else:
            out.write(f"{at} sent to {notifier} {document['state']} {document['rule']} "
                      f"{document['key']}={document['value']}\n")  # fmt: skip

    def held(notice: Suppressed) -> None:
        nonlocal suppressed
        suppressed += 1
        if not show_suppressed:
            return
        if fmt == "json":
            doc = {"at": format_time(notice.at), "reason": notice.reason, "state": notice.state,
                   "rule": notice.rule, "key": notice.key, "value": notice.value,
                   "by": notice.by}  # fmt: skip
            out.write(json.dumps({"suppressed": doc}, ensure_ascii=False) + "\n")
        else:
            out.write(notice.text_line() + "\n")

    bar = ProgressBar(err, size) if err.isatty() else None
    replayer = Replayer(RuleSet(loaded.config), emit, silences=silences, on_suppressed=held,
                        project=rules_file.stem)  # fmt: skip
    events = errors = 0
    for _, item in read_records(events_file, bar.update if bar else None):
        if isinstance(item, RecordError):
            errors += 1
            err.write(f"{events_file}:{item.line}: error: {item.message}\n")
            continue
        events += 1
        if buffers is None and config.buffered:
            buffers = Buffers(
                config.buffered, config.time_windows, replayer.begin(item.at), buffered,
                project=rules_file.stem, event_rules=event_rules(config),
            )  # fmt: skip
        replayer.feed(item)
    replayer.finish()
    if buffers is not None:  # what the buffers still hold goes out when it is due
        horizon = buffers.scheduler.now + timedelta(days=8)
        while (due := buffers.next_due()) is not None and buffers.scheduler.now < due <= horizon:
            replayer.run_until(due)
    if bar is not None:
        bar.done()
    if replayer.out_of_order:
        err.write(
            f"{events_file}: warning: {replayer.out_of_order} records went back in time; "
            "they were replayed at the time of the record before them\n"
        )
    held_note = f", {suppressed} held back" if suppressed else ""
    err.write(
        f"{events_file}: {events} events replayed, {errors} lines skipped, {alerts} alerts"
        f"{held_note}\n"
    )
    if send and sent:
        from ..daemon.send import deliver

        undelivered = asyncio.run(deliver(loaded.config, sent))
        if undelivered:
            err.write(f"pxrules replay: {undelivered} notification(s) could not be delivered\n")
            return ExitCode.INVALID
    return ExitCode.INVALID if errors else ExitCode.OK


def read_silences(path: Path) -> list[Silence] | str:
    """The silences of a file (a YAML or JSON list of silence documents), or what is wrong."""
    from ..engine import Silence, SilenceError
    from ..rules.yamldoc import YamlFatal, load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read the silences file: {getattr(exc, 'strerror', None) or exc}"
    try:
        doc = load_yaml(text)
    except YamlFatal as exc:
        return f"{exc.mark.line}:{exc.mark.column}: {exc.message}"
    items = doc.data.get("silences") if isinstance(doc.data, dict) else doc.data
    if not isinstance(items, list):
        return "expected a list of silences (or {silences: [...]})"
    found = []
    for i, item in enumerate(items):
        try:
            found.append(Silence.from_document({"id": f"silence-{i}", **item}))
        except (SilenceError, TypeError) as exc:
            mark = doc.mark_of((i,))
            return f"{mark.line}:{mark.column}: silence {i}: {exc}"
    return found


class ProgressBar:
    """``[#####.....]  48%  1,204,000 B  310,000 lines/s`` on one terminal line, redrawn at
    most twice a second."""

    WIDTH = 30

    def __init__(
        self, stream: IO[str], total: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._total = max(total, 1)
        self._clock = clock
        self._started = self._drawn = clock()

    def update(self, lines: int, position: int) -> None:
        """``lines`` read so far, ``position`` in bytes."""
        now = self._clock()
        if now - self._drawn < 0.5:
            return
        self._drawn = now
        share = min(position / self._total, 1.0)
        filled = round(share * self.WIDTH)
        rate = lines / max(now - self._started, 1e-9)
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {rate:,.0f} events/s"
        )
        self._stream.flush()

    def done(self) -> None:
        self._stream.write("\r" + " " * (self.WIDTH + 30) + "\r")
        self._stream.flush()
