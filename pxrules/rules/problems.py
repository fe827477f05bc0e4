"""What loading a rules file finds: problems with positions, and the result of a load.

>>> print(Problem("r.yaml", 3, 5, "error", format_location(("rules", 0, "when")), "bad"))
r.yaml:3:5: error: rules[0].when: bad
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import PxRulesError
from .yamldoc import Path

if TYPE_CHECKING:
    from .model import Config

Level = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of ``check``: ``PATH:LINE:COL: error|warning: LOCATION: MESSAGE``."""

    path: str
    line: int
    column: int
    severity: Level
    location: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: {self.severity}: "
            f"{self.location}: {self.message}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "location": self.location,
            "message": self.message,
        }


class RulesError(PxRulesError):
    """An invalid rules file; ``problems`` holds every error and warning found."""

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid rules file")
        self.problems = problems


@dataclass
class LoadResult:
    """What loading found. ``config`` is set when there are no errors."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    config: Config | None = None
    unreadable: bool = False
    rule_count: int = 0
    notifier_count: int = 0  # defined in the file (the built-in `log` not counted)
    notifier_names: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors and self.config is not None

    def summary(self) -> str:
        if self.ok:
            n = len(self.warnings)
            tail = f", {n} warning{'s' if n != 1 else ''}" if n else ""
            rules = f"{self.rule_count} rule{'s' if self.rule_count != 1 else ''}"
            notifiers = ", ".join(("log", *self.notifier_names))
            return f"{self.path}: {rules}, notifiers {notifiers}, OK{tail}"
        n_err, n_warn = len(self.errors), len(self.warnings)
        return (
            f"{self.path}: {n_err} error{'s' if n_err != 1 else ''}, "
            f"{n_warn} warning{'s' if n_warn != 1 else ''}"
        )


def format_location(path: Path) -> str:
    """``("rules", 2, "when", "above")`` → ``rules[2].when.above``."""
    if not path:
        return "(root)"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{escaped}"]'
    return out
