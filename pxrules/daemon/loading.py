"""The daemon's rules: loaded with every problem logged, and an engine built over them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reactivex import abc as rx_abc

from ..alerts import Alert
from ..engine import Engine, RuleSet, SilenceBook
from ..errors import ExitCode
from ..events import MAX_KEYS
from ..rules import Config, load_file
from .options import RunOptions

log = logging.getLogger("pxrules.daemon")


def load_for_run(
    path: Path, options: RunOptions, problems: list[str] | None = None
) -> Config | ExitCode:
    """The rules file as ``run`` needs it (unset variables are errors, an API key is set, the
    command line's ``--url``/``--api-key`` in place of the file's), or, after logging every
    problem, the exit code: USAGE for a file that cannot be read, INVALID for one that is wrong.
    ``problems`` (if given) receives the errors too."""
    result = load_file(path, env=options.env, strict_env=True, source=options.source_overrides)
    for problem in result.problems:
        log.log(logging.ERROR if problem.severity == "error" else logging.WARNING, "%s", problem)
        if problems is not None and problem.severity == "error":
            problems.append(str(problem))
    if result.unreadable:
        return ExitCode.USAGE
    config = result.config
    if config is not None and not config.source.api_key:
        log.error(
            "%s: source.api_key is not set: give --api-key, or api_key: ${PXSERV_API_KEY} "
            "in the file's source",
            result.path,
        )
        if problems is not None:
            problems.append(f"{result.path}: source.api_key is not set")
        return ExitCode.INVALID
    return config if result.ok and config is not None else ExitCode.INVALID


def start_engine(
    config: Config,
    scheduler: rx_abc.SchedulerBase,
    emit: Callable[[Alert], None],
    *,
    state: Mapping[str, Any] | None,
    id_salt: str,
    max_keys: int = MAX_KEYS,
    on_late: Callable[[float], None] | None = None,
    silences: SilenceBook | None = None,
    project: str | None = None,
) -> Engine:
    """An engine for ``config`` resuming from ``state``, keeping changes for checkpoints."""
    return Engine(
        RuleSet(config), scheduler, emit, state=state, id_salt=id_salt, track_changes=True,
        max_keys=max_keys, on_late=on_late, silences=silences, project=project,
    )  # fmt: skip


def rules_files(paths: tuple[Path, ...]) -> list[Path]:
    """The rules files ``run`` was given: files as they are, a directory as the ``*.yaml`` and
    ``*.yml`` files in it (sorted; not its subdirectories); each file once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.suffix in (".yaml", ".yml") and p.is_file()))  # fmt: skip
        else:
            found.append(path)
    return list(dict.fromkeys(found))
