"""Secrets stay where they belong: the API key never follows a redirect, credentials in the
source URL are redacted, a variable's value is not echoed by check."""

from __future__ import annotations

import pytest

from pxrules.daemon.redaction import secrets_of
from pxrules.rules import load_text
from pxrules.rules.schema import SourceSpec
from pxrules.source.rest import PxServRest, RestError

from ..receiver import Receiver, Reply


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_the_rest_client_does_not_follow_a_redirect_with_the_key(status: int) -> None:
    async with Receiver() as elsewhere:
        plan = {"/database/getAll": [Reply(status, {"Location": elsewhere.url("/steal")})]}
        async with Receiver(plan) as pxserv:
            rest = PxServRest("the-project-key-1", pxserv.url(""))
            try:
                with pytest.raises(RestError) as refused:
                    await rest.get_all()
            finally:
                await rest.close()
    assert refused.value.status == status
    assert str(refused.value) == f"getAll: HTTP {status}: redirects are not followed"
    assert elsewhere.requests.items == []  # the key went nowhere else


@pytest.mark.parametrize("status", [302, 307, 308])
async def test_an_apprise_json_url_does_not_follow_a_redirect_with_its_credentials(
    status: int,
) -> None:
    from pxrules.daemon.notifiers.apprise import AppriseTarget
    from pxrules.daemon.notifiers.base import Outcome

    async with Receiver() as elsewhere:
        plan = {"/notify": [Reply(status, {"Location": elsewhere.url("/steal")})]}
        async with Receiver(plan) as receiver:
            url = f"json://bob:s3cret-pass@127.0.0.1:{receiver.port}/notify?+X-Token=tok-123"
            target = AppriseTarget("chat", url)
            doc = {"state": "firing", "severity": "warning", "title": "t", "message": "m"}
            result = await target.send(doc)
    assert len(receiver.to("/notify")) == 1
    assert receiver.to("/notify")[0].headers["X-Token"] == "tok-123"
    assert elsewhere.requests.items == []  # neither the password nor the header went there
    assert result.outcome is Outcome.RETRY


def test_credentials_in_the_source_url_are_secrets() -> None:
    source = SourceSpec(url="http://admin:hunter2-pw@pxserv.example.com", api_key="key-1234")
    assert {"hunter2-pw", "key-1234"} <= secrets_of(source, {})


def test_a_variables_value_in_the_wrong_field_is_not_echoed_by_check() -> None:
    secret = "s3cr3t-value-1234567890-abcdefghijklmnopqrstuvwxyz"
    text = "rules: [{name: a, key: k, when: {above: 1}, for: '${SECRET_TOKEN}'}]\n"
    problems = load_text(text, env={"SECRET_TOKEN": secret}).errors
    assert [p.message for p in problems] == [  # the value was cut at 40 characters, quote too
        "invalid duration '${SECRET_TOKEN}: use 500ms, 90s, 5m, 1h30m, 2d or a number of seconds"
    ]
    assert all(secret[:6] not in str(p) for p in problems)
