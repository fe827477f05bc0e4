"""Rules file → validated rule definitions, with every problem at ``path:line:col``.

>>> result = load_text("rules: [{name: hot, key: t, when: {above: 30}}]", "r.yaml")
>>> result.ok, [rule.name for rule in result.config.rules]
(True, ['hot'])
>>> print(load_text("rules: [{name: hot, key: t, when: {abvoe: 30}}]", "r.yaml").problems[0])
r.yaml:1:36: error: rules[0].when.abvoe: unknown field 'abvoe' (did you mean 'above'?)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path as FilePath

from .model import Config
from .problems import LoadResult, Problem, RulesError
from .schema import BOOL_FIELDS
from .validate import MAX_PROBLEMS, Validator
from .yamldoc import YamlFatal, load_yaml

MAX_FILE_BYTES = 5 * 1024 * 1024


def load_text(
    text: str,
    path: str = "<string>",
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
    source: Mapping[str, str] | None = None,
) -> LoadResult:
    """Validate rules-file text. ``strict_env`` makes unset ``${VAR}`` errors (as in ``run``);
    ``source`` replaces fields of the file's ``source`` (``--url``, ``--api-key``)."""
    result = LoadResult(path)
    if "\x00" in text:
        result.problems.append(
            Problem(path, 1, 1, "error", "(root)", "the file contains NUL bytes: is it binary?")
        )
        return result
    try:
        doc = load_yaml(text, bool_keys=BOOL_FIELDS)
    except YamlFatal as exc:
        result.problems.append(
            Problem(path, exc.mark.line, exc.mark.column, "error", "(root)", exc.message)
        )
        return result
    checker = Validator(path, doc, os.environ if env is None else env, strict_env, source)
    config, result.rule_count, result.notifier_count = checker.check()
    result.notifier_names = tuple(checker.notifier_names)
    result.problems = sorted(set(checker.problems), key=lambda p: (p.line, p.column, p.message))
    if checker.full:
        result.problems.append(
            Problem(path, 1, 1, "error", "(root)", f"more than {MAX_PROBLEMS} problems: stopped")
        )
    result.config = config
    return result


def load_file(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
    source: Mapping[str, str] | None = None,
) -> LoadResult:
    """Read and validate a rules file (``source`` as for :func:`load_text`). ``unreadable`` is
    set when it cannot be read at all."""
    name = str(path)
    file = FilePath(path)
    result = LoadResult(name)

    def fail(message: str, line: int = 1, column: int = 1, unreadable: bool = False) -> LoadResult:
        result.problems.append(Problem(name, line, column, "error", "(root)", message))
        result.unreadable = unreadable
        return result

    try:
        if file.is_dir():
            return fail("is a directory, not a rules file", unreadable=True)
        with file.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return fail(f"cannot read: {exc.strerror or exc}", unreadable=True)
    if len(raw) > MAX_FILE_BYTES:
        return fail(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        return fail(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): is it binary?", line, column)
    return load_text(text, name, env=env, strict_env=strict_env, source=source)


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Load a rules file for running: unset variables are errors. Raises :class:`RulesError`."""
    result = load_file(path, env=env, strict_env=True)
    if not result.ok or result.config is None:
        raise RulesError(result.problems)
    return result.config
