"""``pxrules check``: validate files and print problems as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..rules.load import LoadResult, load_file

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def run_check(files: Sequence[Path], fmt: str, strict: bool, out: IO[str]) -> int:
    """Check every file; return the exit code (0 valid, 1 invalid, 2 unreadable)."""
    results = [load_file(path, strict_env=strict) for path in files]
    if fmt == "json":
        out.write(json.dumps(as_json(results), ensure_ascii=False, indent=2) + "\n")
    else:
        for result in results:
            for problem in result.problems:
                out.write(f"{problem}\n")
            out.write(result.summary() + "\n")
    if any(r.unreadable for r in results):
        return EXIT_UNREADABLE
    failed = any(not r.ok or (strict and r.warnings) for r in results)
    return EXIT_INVALID if failed else EXIT_OK


def as_json(results: Sequence[LoadResult]) -> dict[str, object]:
    """One object for all files: ``valid``, ``rules``, ``errors``, ``warnings``."""
    return {
        "valid": all(r.ok for r in results),
        "rules": sum(r.rule_count for r in results),
        "errors": [p.to_json() for r in results for p in r.errors],
        "warnings": [p.to_json() for r in results for p in r.warnings],
    }
