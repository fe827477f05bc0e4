"""The source: PxServ's Socket.IO push stream as a hot ``Observable[Event]``.

- :mod:`.client` — :class:`PxServSource`, the connection loop and the snapshot after each connect;
- :mod:`.policy` — when to reconnect (a pure function of the last outcome);
- :mod:`.rest` — the one PxServ REST client (snapshot and write-back);
- :mod:`.status` — connection states and counters; :mod:`.subjects` — the isolating Subject.

It depends on :mod:`pxrules.events` alone, never on the rules, the engine or the daemon.
"""

from .client import PxServSource
from .rest import PxServRest, RestError
from .status import ConnectionState, ConnectionStatus, SourceStats

__all__ = [
    "ConnectionState",
    "ConnectionStatus",
    "PxServRest",
    "PxServSource",
    "RestError",
    "SourceStats",
]
