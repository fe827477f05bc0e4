"""Compiled rules with a key index, and :meth:`RuleSet.apply`: events in, alerts out.

>>> ruleset = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 30}}]")
>>> [rule.name for rule in ruleset.rules_for("t")], ruleset.rules_for("other")
(['hot'], ())
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import reactivex
from reactivex import abc as rx_abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import TimeoutScheduler

from ..alerts import Alert
from ..events import Event
from ..rules.conditions import Predicate, compile_condition, stale_durations
from ..rules.load import load_config, load_text
from ..rules.model import Config, RuleDef
from ..rules.problems import RulesError
from ..rules.templates import DEFAULT_MESSAGE, DEFAULT_TITLE
from .engine import Engine

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
    renders: frozenset[str]  # the template variables its title and message read
    default_texts: bool  # the built-in title and message (rendered without Jinja)

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
            renders=definition.title.names | definition.message.names,
            default_texts=definition.title.source == DEFAULT_TITLE
            and definition.message.source == DEFAULT_MESSAGE,
        )


class RuleSet:
    """Compiled rules with a key index: exact keys in a dict, globs matched once per new key."""

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

    @classmethod
    def from_text(cls, text: str, env: Mapping[str, str] | None = None) -> RuleSet:
        result = load_text(text, env=env or {}, strict_env=True)
        if not result.ok or result.config is None:
            raise RulesError(result.problems)
        return cls(result.config)

    def rules_for(self, key: str) -> tuple[CompiledRule, ...]:
        """Every rule whose key or globs match ``key`` (memoised per key)."""
        return self.plan(key)[0]

    def plan(self, key: str) -> Plan:
        """:meth:`rules_for` ``key``, and how many of those rules are plain (memoised)."""
        found = self.plans.get(key)
        if found is None:
            matched = list(self._exact.get(key, ()))
            for match, rule in self._globs:
                if match(key) and rule not in matched:
                    matched.append(rule)
            shared = tuple(rule.index for rule in matched)
            found = self._shared_plans.get(shared)
            if found is None:
                rules = tuple(matched)
                found = self._shared_plans[shared] = (rules, sum(r.plain for r in rules))
            self.plans[key] = found
        return found

    def apply(
        self,
        events: reactivex.Observable[Event],
        scheduler: rx_abc.SchedulerBase | None = None,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> reactivex.Observable[Alert]:
        """The alert stream for ``events``. Each subscription runs its own engine.

        Timers run on ``scheduler``, else the one given at subscribe time, else reactivex's
        ``TimeoutScheduler`` (threads; pass an ``AsyncIOScheduler`` under asyncio).
        ``state`` is a :meth:`Engine.snapshot` to resume from.
        """

        def subscribe(
            observer: rx_abc.ObserverBase[Alert], scheduler_: rx_abc.SchedulerBase | None = None
        ) -> rx_abc.DisposableBase:
            chosen = scheduler or scheduler_ or TimeoutScheduler.singleton()
            engine = Engine(self, chosen, observer.on_next, state=state)
            subscription = events.subscribe(
                engine.on_event, observer.on_error, observer.on_completed, scheduler=scheduler_
            )
            return CompositeDisposable(subscription, Disposable(engine.dispose))

        return reactivex.create(subscribe)


def load_rules(path: str, env: Mapping[str, str] | None = None) -> RuleSet:
    """Load a rules file into a :class:`RuleSet`; raise :class:`RulesError` if invalid."""
    return RuleSet(load_config(path, env=env))
