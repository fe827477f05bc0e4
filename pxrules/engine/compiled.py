"""Rules compiled for the engine, and the index that finds a key's rules.

>>> from pxrules.rules import load_text
>>> index = RuleIndex(load_text("rules: [{name: hot, keys: ['t/*'], when: {above: 30}}]").config)
>>> [rule.name for rule in index.rules_for("t/1")], index.rules_for("other")
(['hot'], ())
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..rules.conditions import Predicate, compile_condition, stale_durations
from ..rules.model import Config, RuleDef

Plan = tuple[tuple["CompiledRule", ...], int]


@dataclass(frozen=True)
class CompiledRule:
    """A :class:`RuleDef` with its predicates compiled."""

    index: int  # position in the file: simultaneous timers fire in rule order
    name: str
    definition: RuleDef
    when: Predicate
    clear: Predicate | None
    where: tuple[tuple[str, Predicate], ...]
    stale: tuple[float, ...]
    event_rule: bool  # `when` uses changed/changed_by (cached: the tree walk is per evaluation)
    plain: bool  # no debounce and no stale clock: an event is evaluated at once, on the key itself
    renders: frozenset[str]  # the template variables its own title and message read
    zone: tzinfo | None  # of the times in the built-in texts (None: local)
    stale_for: float | None  # `when` watches for silence this long (the built-in texts say so)

    @classmethod
    def compile(cls, index: int, definition: RuleDef) -> CompiledRule:
        stale = list(stale_durations(definition.when))
        if definition.clear is not None:
            stale.extend(stale_durations(definition.clear))
        return cls(
            index=index,
            name=definition.name,
            definition=definition,
            when=compile_condition(definition.when),
            clear=compile_condition(definition.clear) if definition.clear else None,
            where=tuple((k, compile_condition(c)) for k, c in definition.where.items()),
            stale=tuple(sorted(set(stale))),
            event_rule=definition.is_event_rule,
            plain=not stale and not definition.debounce,
            renders=frozenset().union(
                *(t.names for t in (definition.title, definition.message) if t is not None)
            ),
            zone=ZoneInfo(definition.timezone) if definition.timezone else None,
            stale_for=min(stale_durations(definition.when), default=None),
        )


class RuleIndex:
    """Compiled rules with a key index: exact keys in a dict, globs matched once per new key.

    What the engine needs of a rule set; :class:`~pxrules.engine.ruleset.RuleSet` adds the
    public ways in (``from_text``, ``apply``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules = tuple(CompiledRule.compile(i, rule) for i, rule in enumerate(config.rules))
        self._exact: dict[str, list[CompiledRule]] = {}
        self._globs: list[tuple[Callable[[str], Any], CompiledRule]] = []
        for rule in self.rules:
            if rule.definition.key is not None:
                self._exact.setdefault(rule.definition.key, []).append(rule)
            for pattern in rule.definition.keys:
                matcher = re.compile(fnmatch.translate(pattern)).match
                self._globs.append((matcher, rule))
        # Per key seen: its rules, and how many of them are plain (evaluated on the event).
        # Keys with the same rules share one plan (many keys, few distinct rule sets).
        self.plans: dict[str, Plan] = {}
        self._shared_plans: dict[tuple[int, ...], Plan] = {}

    def rules_for(self, key: str) -> tuple[CompiledRule, ...]:
        """Every rule whose key or globs match ``key`` (memoised per key)."""
        return self.plan(key)[0]

    def plan(self, key: str) -> Plan:
        """:meth:`rules_for` ``key``, and how many of those rules are plain (memoised)."""
        found = self.plans.get(key)
        if found is None:
            matched = list(self._exact.get(key, ()))
            seen = {rule.index for rule in matched}  # by index: O(1), no dataclass comparisons
            for match, rule in self._globs:
                if rule.index not in seen and match(key):
                    seen.add(rule.index)
                    matched.append(rule)
            shared = tuple(rule.index for rule in matched)
            found = self._shared_plans.get(shared)
            if found is None:
                rules = tuple(matched)
                found = self._shared_plans[shared] = (rules, sum(r.plain for r in rules))
            self.plans[key] = found
        return found
