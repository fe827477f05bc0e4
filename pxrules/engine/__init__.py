"""The engine: ``Observable[Event]`` in, ``Observable[Alert]`` out, on any reactivex scheduler.

- :mod:`.compiled` — rules compiled and indexed by key; :mod:`.ruleset` — :meth:`RuleSet.apply`,
  the Rx operator;
- :mod:`.engine` — values, event routing, debounce and stale clocks;
- :mod:`.machine` — the alert state machine (one evaluation step), :mod:`.timers` its timers;
- :mod:`.render` — alert ids and texts; :mod:`.state` — the state codec;
- :mod:`.replay` — the same engine on a virtual clock over recorded events.
"""

from .compiled import CompiledRule
from .engine import Engine
from .ruleset import RuleSet, load_rules

__all__ = ["CompiledRule", "Engine", "RuleSet", "load_rules"]
