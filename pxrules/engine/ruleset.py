"""The public rule set: :meth:`RuleSet.apply` turns events into alerts.

>>> ruleset = RuleSet.from_text("rules: [{name: hot, key: t, when: {above: 30}}]")
>>> [rule.name for rule in ruleset.rules_for("t")], ruleset.rules_for("other")
(['hot'], ())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import reactivex
from reactivex import abc as rx_abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler import TimeoutScheduler

from ..alerts import Alert
from ..events import Event
from ..rules.load import load_config, load_text
from ..rules.problems import RulesError
from .compiled import RuleIndex
from .engine import Engine
from .silences import SilenceBook


class RuleSet(RuleIndex):
    """Compiled rules, ready to run over any ``Observable[Event]``."""

    @classmethod
    def from_text(cls, text: str, env: Mapping[str, str] | None = None) -> RuleSet:
        result = load_text(text, env=env or {}, strict_env=True)
        if not result.ok or result.config is None:
            raise RulesError(result.problems)
        return cls(result.config)

    def apply(
        self,
        events: reactivex.Observable[Event],
        scheduler: rx_abc.SchedulerBase | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        silences: SilenceBook | None = None,
        project: str | None = None,
    ) -> reactivex.Observable[Alert]:
        """The alert stream for ``events``. Each subscription runs its own engine.

        Timers run on ``scheduler``, else the one given at subscribe time, else reactivex's
        ``TimeoutScheduler`` (threads; pass an ``AsyncIOScheduler`` under asyncio).
        ``state`` is a :meth:`Engine.snapshot` to resume from. ``silences`` hold back the
        notifications of the alerts they match (labelled with ``project``), see
        :class:`~pxrules.engine.silences.SilenceBook`.
        """

        def subscribe(
            observer: rx_abc.ObserverBase[Alert], scheduler_: rx_abc.SchedulerBase | None = None
        ) -> rx_abc.DisposableBase:
            chosen = scheduler or scheduler_ or TimeoutScheduler.singleton()
            engine = Engine(
                self, chosen, observer.on_next, state=state, silences=silences, project=project
            )
            subscription = events.subscribe(
                engine.on_event, observer.on_error, observer.on_completed, scheduler=scheduler_
            )
            return CompositeDisposable(subscription, Disposable(engine.dispose))

        return reactivex.create(subscribe)


def load_rules(path: str, env: Mapping[str, str] | None = None) -> RuleSet:
    """Load a rules file into a :class:`RuleSet`; raise :class:`RulesError` if invalid."""
    return RuleSet(load_config(path, env=env))
