"""Standard Webhooks signing and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pxrules.webhooks import sign, signature, verify

BODY = b'{"id":"msg_1","state":"firing"}'


def test_signature_matches_the_standard_webhooks_construction() -> None:
    expected = base64.b64encode(
        hmac.new(b"my-secret", b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    ).decode()
    assert signature(BODY, "msg_1", 1700000000, "my-secret") == "v1," + expected


def test_whsec_secrets_are_base64_decoded() -> None:
    raw = b"\x01\x02raw-key-bytes"
    secret = "whsec_" + base64.b64encode(raw).decode()
    expected = base64.b64encode(hmac.new(raw, b"m.5." + BODY, hashlib.sha256).digest()).decode()
    assert signature(BODY, "m", 5, secret) == "v1," + expected


def test_verify_round_trip_and_failures() -> None:
    headers = sign(BODY, "msg_1", "s", timestamp=1700000000)
    assert verify(BODY, headers, "s", now=1700000000)
    assert verify(BODY, {k.upper(): v for k, v in headers.items()}, "s", now=1700000000)
    assert not verify(BODY, headers, "other", now=1700000000)
    assert not verify(BODY + b"x", headers, "s", now=1700000000)
    assert not verify(BODY, {**headers, "webhook-id": "msg_2"}, "s", now=1700000000)
    assert not verify(BODY, headers, "s", now=1700000000 + 301)  # replayed too late
    assert not verify(BODY, {}, "s")
    assert not verify(BODY, {**headers, "webhook-timestamp": "soon"}, "s")


def test_verify_accepts_any_of_several_signatures() -> None:
    headers = sign(BODY, "msg_1", "new", timestamp=10)
    old = signature(BODY, "msg_1", 10, "old")
    rotated = {**headers, "webhook-signature": f"{old} {headers['webhook-signature']}"}
    assert verify(BODY, rotated, "new", now=10) and verify(BODY, rotated, "old", now=10)
