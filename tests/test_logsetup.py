"""Secret redaction and JSON log lines."""

from __future__ import annotations

import json
import logging

from pxrules.daemon.redaction import RedactingFormatter, secrets_of
from pxrules.rules.schema import NotifierSpec, SourceSpec


def test_secrets_of_configuration() -> None:
    notifiers = {
        "tg": NotifierSpec.model_validate({"apprise": "tgram://123456789:AAbbCCddEE/987654321"}),
        "mail": NotifierSpec.model_validate({"apprise": "mailto://alice:pw-1234@example.com"}),
        "hook": NotifierSpec.model_validate(
            {"webhook": {"url": "https://h.example.com/x?token=qtoken-9",
                         "secret": "whsec_abc", "headers": {"X-Key": "hdr-secret"}}}
        ),
        "local": NotifierSpec.model_validate({"apprise": "json://127.0.0.1:8080/hook"}),
    }  # fmt: skip
    found = secrets_of(SourceSpec(api_key="api-key-1"), notifiers)
    assert {"api-key-1", "whsec_abc", "hdr-secret", "qtoken-9", "pw-1234", "AAbbCCddEE"} <= found
    assert "123456789:AAbbCCddEE" in found  # the bot token is the Telegram URL's host part
    # addresses and short words are not secrets: redacting them would garble every log line
    assert not {"127.0.0.1", "hook", "alice", "example.com"} & found


def test_formatter_redacts_text_and_json() -> None:
    record = logging.makeLogRecord(
        {"name": "x", "levelno": 40, "levelname": "ERROR",
         "msg": "failed for %s", "args": ("tgram://TOKEN-LONG-123/chat",)}
    )  # fmt: skip
    for json_lines in (False, True):
        formatter = RedactingFormatter(
            json_lines, {"TOKEN-LONG-123", "tgram://TOKEN-LONG-123/chat"}
        )
        text = formatter.format(record)
        assert "TOKEN-LONG-123" not in text and "***" in text
    entry = json.loads(RedactingFormatter(True).format(record))
    assert entry["level"] == "error" and entry["message"].startswith("failed for")
