"""The exceptions pxrules raises.

::

    PxRulesError
     ├── KeyRefusedError                 PxServ refused the API key (the server's message)
     ├── rules.RulesError                a rules file is invalid (carries every problem)
     └── events.MalformedEvent (also ValueError)   a payload or record that is not an Event

(Template and duration errors are ValueErrors that rules.validate turns into problems;
daemon.store.StoreError means the state file cannot be written: the daemon degrades, it does not
stop; source.RestError is a failed PxServ REST call.) :class:`ExitCode` names the exit codes of
the command line.
"""

from __future__ import annotations

import enum


class PxRulesError(Exception):
    """Base class of every error pxrules raises on purpose."""


class KeyRefusedError(PxRulesError):
    """PxServ refused the connection; ``reason`` is the server's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"PxServ refused the connection: {reason}")
        self.reason = reason


class ExitCode(enum.IntEnum):
    """The exit codes of every ``pxrules`` command (docs/reference.md, "Exit codes")."""

    OK = 0
    INVALID = 1  # invalid rules, events or test files; a failed check or test
    USAGE = 2  # bad arguments, an unreadable file, an address that cannot be bound
    REFUSED = 3  # PxServ refused the API key on the first connect
