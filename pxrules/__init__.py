"""pxrules: rules and alerting for the PxServ IoT key/value cloud, on reactivex.

>>> from pxrules import Event, parse_number
>>> parse_number("71.5")
71.5
"""

from .backoff import Backoff
from .errors import KeyRefusedError, PxRulesError
from .events import Event, MalformedEvent, parse_number
from .simulator import Simulator
from .source import ConnectionState, ConnectionStatus, PxServSource

__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "ConnectionState",
    "ConnectionStatus",
    "Event",
    "KeyRefusedError",
    "MalformedEvent",
    "PxRulesError",
    "PxServSource",
    "Simulator",
    "__version__",
    "parse_number",
]
