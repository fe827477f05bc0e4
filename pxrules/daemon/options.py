"""What ``pxrules run`` was asked to do: the options of one daemon."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..events import MAX_KEYS


@dataclass
class RunOptions:
    rules_path: Path  # the first rules file or directory
    more_rules: tuple[Path, ...] = ()  # the others (each file is one project)
    state_path: str = "pxrules-state.db"
    http: str | None = None
    http_token: str | None = None  # writes through the API need it (--http-token)
    dry_run: bool = False
    grace: float = 10.0
    checkpoint_interval: float = 5.0
    max_keys: int = MAX_KEYS  # latest values kept in memory (--max-keys)
    env: dict[str, str] | None = None
    url: str | None = None  # replaces the rules file's source.url (--url)
    api_key: str | None = None  # replaces the rules file's source.api_key (--api-key)
    lease_ttl: float = 15.0  # a fleet's project leases (--lease-ttl, state in PostgreSQL)

    @property
    def rules_paths(self) -> tuple[Path, ...]:
        return (self.rules_path, *self.more_rules)

    @property
    def source_overrides(self) -> dict[str, str]:
        given = {"url": self.url, "api_key": self.api_key}
        return {name: value for name, value in given.items() if value}
