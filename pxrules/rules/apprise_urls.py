"""Apprise URLs: whether Apprise knows one (offline), and what of one may be shown.

>>> scheme_of("tgram://123456:AAbbCC/987")
'tgram://…'
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apprise


def scheme_of(url: str) -> str:
    """What may be shown of an Apprise URL: its scheme only (the rest can hold tokens)."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "…"


def apprise_for(url: str) -> apprise.Apprise | None:
    """An Apprise object holding ``url`` alone, or ``None`` when Apprise does not recognise it.

    One object per URL: a shared one reports only that some target failed, not which. Apprise's
    own log lines are silenced meanwhile (they could carry the URL's token); HTTP redirects are
    not followed. Imported lazily:
    ``check`` loads Apprise only when a file has an Apprise notifier.
    """
    import apprise

    logger = logging.getLogger("apprise")
    previous = logger.disabled
    logger.disabled = True
    try:
        # No redirects unless the URL itself says `redirect=yes`: a redirect to another origin
        # would carry the URL's credentials and custom headers there.
        target = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
        return target if target.add(url) else None
    finally:
        logger.disabled = previous
