"""`pxrules.webhooks.verify` is what receivers run on untrusted requests: it answers True or
False for any headers, never raises; a malformed whsec_ secret is a check error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pxrules.rules import load_text
from pxrules.webhooks import sign, verify

BODY = b'{"id":"x"}'
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # base64 of "secret-key-for-tests"
GOOD = sign(BODY, "msg_1", SECRET, timestamp=1_700_000_000)
NOW = 1_700_000_000

header_names = st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x"])
header_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["1700000000", "٣٤٥", "9" * 5000, "v1,ÿ", "v1," + "é" * 40, ""]),
)


@settings(max_examples=400, deadline=None)
@given(overrides=st.dictionaries(header_names, header_values, max_size=3))
def test_verify_never_raises_on_any_headers(overrides: dict[str, str]) -> None:
    headers = {**GOOD, **overrides}
    result = verify(BODY, headers, SECRET, now=NOW)
    assert result is all(headers[name] == value for name, value in GOOD.items())


def test_the_cases_that_used_to_raise_return_false() -> None:
    for bad in (
        {**GOOD, "webhook-timestamp": "9" * 5000},  # int() refuses over 4,300 digits
        {**GOOD, "webhook-timestamp": "١٧٠٠٠٠٠٠٠٠"},  # non-ASCII digits
        {**GOOD, "webhook-signature": "v1,sïgnature"},  # compare_digest refuses non-ASCII str
    ):
        assert verify(BODY, bad, SECRET, now=NOW) is False
    assert verify(BODY, GOOD, SECRET, now=NOW) is True


def test_a_whsec_secret_that_is_not_base64_is_a_check_error() -> None:
    hook = "{url: 'https://example.com/h', secret: 'whsec_not*base64!'}"
    text = (
        f"notifiers:\n  hook:\n    webhook: {hook}\n"
        "rules: [{name: a, key: k, when: {above: 1}, notify: [hook]}]\n"
    )
    problems = load_text(text).errors
    assert [(p.location, p.message) for p in problems] == [
        (
            "notifiers.hook.webhook.secret",
            "a whsec_ secret must be base64 after the prefix (Standard Webhooks); "
            "drop the prefix to use the text itself",
        )
    ]
    assert all("not*base64" not in str(p) for p in problems)  # the secret is never echoed
