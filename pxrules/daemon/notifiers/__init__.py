"""Delivery targets. Each notifier of the rules file becomes one or more independent targets.

Importing this package loads aiohttp and Apprise: ``check`` never does.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from ...rules.schema import NotifierSpec, SourceSpec
from ...source.rest import PxServRest
from .apprise import AppriseTarget
from .base import HttpTarget, Outcome, Result, Target, classify_http
from .log import LogTarget
from .pxserv import PxServTarget
from .webhook import WebhookTarget

__all__ = ["HttpTarget", "Outcome", "Result", "Target", "build_targets", "classify_http"]


def build_targets(
    notifiers: Mapping[str, NotifierSpec],
    source: SourceSpec,
    session: aiohttp.ClientSession,
    *,
    log_target: LogTarget | None = None,
) -> dict[str, list[Target]]:
    """Notifier name → its targets. An Apprise notifier with N URLs has N targets; ``log`` is
    ``log_target`` when given (the daemon keeps one across reloads)."""
    targets: dict[str, list[Target]] = {"log": [log_target or LogTarget()]}
    for name, spec in notifiers.items():
        if spec.apprise is not None:
            urls = spec.apprise_urls
            targets[name] = [
                AppriseTarget(name if len(urls) == 1 else f"{name}#{i}", url)
                for i, url in enumerate(urls)
            ]
        elif spec.webhook is not None:
            targets[name] = [WebhookTarget(name, spec.webhook, session)]
        elif spec.pxserv is not None:
            rest = PxServRest(source.api_key or "", source.url, session=session)
            targets[name] = [PxServTarget(name, spec.pxserv, rest)]
    return targets
