"""pxrules: rules and alerting for the PxServ IoT key/value cloud, on reactivex.

>>> from pxrules import Event, parse_number
>>> parse_number("71.5")
71.5

Public names are imported lazily, so ``pxrules check`` never loads the Socket.IO client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Alert": "alerts",
    "Backoff": "backoff",
    "Config": "rules",
    "ConnectionState": "source",
    "ConnectionStatus": "source",
    "Event": "events",
    "KeyRefusedError": "errors",
    "MalformedEvent": "events",
    "PxRulesError": "errors",
    "PxServSource": "source",
    "RuleSet": "engine",
    "RulesError": "rules",
    "Silence": "engine",
    "SilenceBook": "engine",
    "Simulator": "testing",
    "load_config": "rules",
    "load_rules": "engine",
    "parse_number": "events",
}

__all__ = [
    "Alert",
    "Backoff",
    "Config",
    "ConnectionState",
    "ConnectionStatus",
    "Event",
    "KeyRefusedError",
    "MalformedEvent",
    "PxRulesError",
    "PxServSource",
    "RuleSet",
    "RulesError",
    "Silence",
    "SilenceBook",
    "Simulator",
    "__version__",
    "load_config",
    "load_rules",
    "parse_number",
]

if TYPE_CHECKING:
    from .alerts import Alert
    from .backoff import Backoff
    from .engine import RuleSet, Silence, SilenceBook, load_rules
    from .errors import KeyRefusedError, PxRulesError
    from .events import Event, MalformedEvent, parse_number
    from .rules import Config, RulesError, load_config
    from .source import ConnectionState, ConnectionStatus, PxServSource
    from .testing import Simulator


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pxrules' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
