"""Delivering a list of alerts once, without a daemon (``pxrules replay --send``): the same
routing, notifiers and retries as ``run``, with no state file."""

from __future__ import annotations

import time
from collections.abc import Sequence

import aiohttp

from ..alerts import Alert
from ..rules import Config
from .delivery import Dispatcher
from .notifiers import build_targets
from .notifiers.log import LogTarget
from .routing import event_rules, notify_map, route


async def deliver(config: Config, alerts: Sequence[Alert], grace: float = 60.0) -> int:
    """Send ``alerts`` through the rules' notifiers, retrying for up to ``grace`` seconds;
    return how many deliveries did not succeed."""
    notify = notify_map(config)
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(
            build_targets(
                config.notifiers, config.source, session, log_target=LogTarget(event_rules(config))
            ),
            None,
            retry_for={name: min(spec.retry_for, grace) for name, spec in config.notifiers.items()},
        )
        dispatcher.start()
        now = time.time()
        items = [
            item for alert in alerts for item in route(alert, notify, dispatcher.targets_of, now)
        ]
        for item in items:
            dispatcher.submit(item)
        await dispatcher.drain(grace)
        delivered = sum(
            count for (_, outcome), count in dispatcher.stats.notifications.items()
            if outcome == "delivered"
        )  # fmt: skip
        return len(items) - delivered
