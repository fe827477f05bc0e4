"""The engine: ``Observable[Event]`` in, ``Observable[Alert]`` out, on any reactivex scheduler.

- :mod:`.compiled` — rules compiled and indexed by key; :mod:`.ruleset` — :meth:`RuleSet.apply`,
  the Rx operator;
- :mod:`.engine` — values, event routing, debounce and stale clocks;
- :mod:`.machine` — the alert state machine (one evaluation step), :mod:`.timers` its timers;
- :mod:`.render` — alert ids and texts; :mod:`.state` — the state codec;
- :mod:`.silences` — silences and the book of them; :mod:`.gate` — what holds notifications
  back and releases them when a silence ends;
- :mod:`.replay` — the same engine on a virtual clock over recorded events.
"""

from .compiled import CompiledRule
from .engine import Engine
from .ruleset import RuleSet, load_rules
from .silences import Silence, SilenceBook, SilenceError, parse_matchers

__all__ = [
    "CompiledRule",
    "Engine",
    "RuleSet",
    "Silence",
    "SilenceBook",
    "SilenceError",
    "load_rules",
    "parse_matchers",
]
