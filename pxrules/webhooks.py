"""Standard Webhooks signatures: how pxrules signs webhook bodies, and how receivers verify them.

A receiver checks a request in three lines::

    from pxrules.webhooks import verify
    if not verify(await request.read(), request.headers, secret):
        raise web.HTTPUnauthorized()

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``, signed with HMAC-SHA256 and
sent as ``webhook-signature: v1,<base64>``. A secret written as ``whsec_<base64>`` (the Standard
Webhooks format) is base64-decoded (``check`` rejects one that does not decode); any other secret
is used as its UTF-8 bytes. ``verify`` returns False for any malformed header; it never raises.

>>> headers = sign(b'{}', "msg_1", "my-secret", timestamp=1700000000)
>>> verify(b'{}', headers, "my-secret", now=1700000100)
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 5 * 60


_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


class SecretError(ValueError):
    """A ``whsec_`` secret whose rest is not base64."""


def check_secret(secret: str) -> None:
    """Raise :class:`SecretError` for a ``whsec_`` secret that does not decode (``check``
    reports it: used as raw bytes it would never match what the receiver computes)."""
    if secret.startswith("whsec_"):
        try:
            base64.b64decode(secret[len("whsec_") :], validate=True)
        except ValueError:
            raise SecretError(
                "a whsec_ secret must be base64 after the prefix (Standard Webhooks); "
                "drop the prefix to use the text itself"
            ) from None


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        check_secret(secret)
        return base64.b64decode(secret[len("whsec_") :], validate=True)
    return secret.encode("utf-8")


def signature(body: bytes, message_id: str, timestamp: int, secret: str) -> str:
    """The ``v1,<base64>`` signature of one request."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(body: bytes, message_id: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature(body, message_id, ts, secret),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether the request carries a valid signature made within ``tolerance`` seconds of now."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature", "")
    # Whatever a sender puts in the headers, the answer is True or False, never an exception.
    if not isinstance(message_id, str) or not message_id or not isinstance(signatures, str):
        return False
    if not isinstance(stamp, str) or not _TIMESTAMP.fullmatch(stamp):
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature(body, message_id, timestamp, secret).encode("ascii")
    # Several space-separated signatures may be sent during secret rotation.
    return any(
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in signatures.split()
    )
