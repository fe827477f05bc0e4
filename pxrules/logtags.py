"""Log lines of one project (a daemon may run many) start with its name.

>>> import logging
>>> tagged("greenhouse").process("connected to %s", {})
('greenhouse: connected to %s', {})
>>> tagged("").process("connected to %s", {})
('connected to %s', {})
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class Tagged(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger whose messages start with ``tag: `` (none for an empty tag)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        tag = (self.extra or {}).get("tag")
        return (f"{tag}: {msg}" if tag else msg), kwargs


def tagged(tag: str, logger: logging.Logger | str = "pxrules.daemon") -> Tagged:
    base = logging.getLogger(logger) if isinstance(logger, str) else logger
    return Tagged(base, {"tag": tag})
