"""The daemon's rules: loaded with every problem logged, and an engine built over them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reactivex import abc as rx_abc

from ..alerts import Alert
from ..engine import Engine, RuleSet
from ..rules import Config, load_file

log = logging.getLogger("pxrules.daemon")


def load_for_run(path: Path, env: Mapping[str, str] | None) -> Config | None:
    """The rules file as ``run`` needs it (unset variables are errors, an API key is set), or
    ``None`` after logging every problem."""
    result = load_file(path, env=env, strict_env=True)
    for problem in result.problems:
        log.log(logging.ERROR if problem.severity == "error" else logging.WARNING, "%s", problem)
    config = result.config
    if config is not None and not config.source.api_key:
        log.error("%s: source.api_key is not set (use ${PXSERV_API_KEY})", result.path)
        return None
    return config if result.ok else None


def start_engine(
    config: Config,
    scheduler: rx_abc.SchedulerBase,
    emit: Callable[[Alert], None],
    *,
    state: Mapping[str, Any] | None,
    id_salt: str,
) -> Engine:
    """An engine for ``config`` resuming from ``state``, keeping changes for checkpoints."""
    return Engine(
        RuleSet(config), scheduler, emit, state=state, id_salt=id_salt, track_changes=True
    )
