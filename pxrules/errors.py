"""The exceptions pxrules raises.

::

    PxRulesError
     ├── KeyRefusedError                 PxServ refused the API key (the server's message)
     ├── rulefmt.RulesError              a rules file is invalid (carries every problem)
     └── events.MalformedEvent (also ValueError)   a payload or record that is not an Event

(Template and duration errors are ValueErrors that rulefmt turns into problems; StoreError in
store.py means the state file cannot be written: the daemon degrades, it does not stop.)
"""

from __future__ import annotations


class PxRulesError(Exception):
    """Base class of every error pxrules raises on purpose."""


class KeyRefusedError(PxRulesError):
    """PxServ refused the connection; ``reason`` is the server's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"PxServ refused the connection: {reason}")
        self.reason = reason
