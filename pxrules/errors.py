"""The exceptions pxrules raises.

::

    PxRulesError
     ├── KeyRefusedError        PxServ refused the API key (carries the server's message)
     ├── RulesError             a rules file is invalid (carries every problem)
     └── MalformedEvent (ValueError)   a PxServ payload or record that is not an Event
"""

from __future__ import annotations


class PxRulesError(Exception):
    """Base class of every error pxrules raises on purpose."""


class KeyRefusedError(PxRulesError):
    """PxServ refused the connection; ``reason`` is the server's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"PxServ refused the connection: {reason}")
        self.reason = reason
