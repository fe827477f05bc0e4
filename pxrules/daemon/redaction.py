"""Log formatting for the daemon: text or JSON lines, and secrets redacted from every record.

Redaction is the last line of defence: no code logs a secret on purpose, but a dependency's
exception text might carry one. Every known secret (API key, webhook secrets and header
values, Apprise URLs and their parts) is replaced by ``***`` in the formatted output.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..rules.schema import NotifierSpec, SourceSpec

_MIN_SECRET = 4
_MIN_TOKEN = 8
_STANDARD = set(vars(logging.makeLogRecord({})))


def secrets_of(source: SourceSpec, notifiers: dict[str, NotifierSpec]) -> set[str]:
    """Every string in the configuration that must never be printed."""
    found: set[str] = set()
    if source.api_key:
        found.add(source.api_key)
    found.update(_url_parts(source.url, whole=False))  # http://user:password@host
    for spec in notifiers.values():
        if spec.webhook is not None:
            if spec.webhook.secret:
                found.add(spec.webhook.secret)
            found.update(spec.webhook.headers.values())
            found.update(_url_parts(spec.webhook.url, whole=False))
        for url in spec.apprise_urls:
            found.update(_url_parts(url, whole=True))
    return {s for s in found if len(s) >= _MIN_SECRET}


def _url_parts(url: str, *, whole: bool) -> set[str]:
    parts: set[str] = {url} if whole else set()
    try:
        split = urlsplit(url)
    except ValueError:
        return parts
    if split.username and _token_like(split.username):
        parts.add(split.username)
    if split.password:
        parts.add(split.password)
    parts.update(value for _, value in parse_qsl(split.query))
    if whole:  # Apprise URLs carry tokens anywhere: host part and path segments
        # Tokens hide in the "host" too: tgram://123456:AAbb.../chat parses as host:port.
        host_part = split.netloc.rsplit("@", 1)[-1]
        candidates = [host_part, *host_part.split(":"), *split.path.split("/")]
        parts.update(c for c in candidates if _token_like(c))
    return parts


_DOMAIN = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*(?::\d+)?")


def _token_like(text: str) -> bool:
    """Long enough to be a token, and not an address: IPs, localhost, domain names (with an
    optional port) are no secrets, and redacting them would garble every log line."""
    address = text.rsplit(":", 1)[0] if text.rsplit(":", 1)[-1].isdigit() else text
    if len(text) < _MIN_TOKEN or address == "localhost" or _DOMAIN.fullmatch(text):
        return False
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return True
    return False


#: Control characters in a text log line would let a device forge lines or drive the terminal
#: (a key with a newline and a fake `FIRING`, ANSI escapes): shown escaped instead.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape_controls(text: str) -> str:
    """``"a\nb\x1b[2J"`` → ``"a\\nb\\x1b[2J"``: one line, nothing for a terminal to obey."""
    return text.translate(_CONTROLS) if not text.isprintable() else text


class RedactingFormatter(logging.Formatter):
    """Formats as text or JSON, then removes secrets from the result. In text, the message's
    control characters are escaped (tracebacks keep their lines)."""

    def __init__(self, json_lines: bool, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json_lines = json_lines
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # As written and as JSON writes it (a secret with `"` or `\` is escaped in JSON lines);
        # longest first, so a URL is replaced before the token inside it.
        forms = {form for s in secrets for form in (s, json.dumps(s, ensure_ascii=False)[1:-1])}
        self._secrets = sorted(forms, key=len, reverse=True)

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if message.isprintable():
            return super().formatMessage(record)
        record.message = escape_controls(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message

    def format(self, record: logging.LogRecord) -> str:
        if self.json_lines:
            entry: dict[str, Any] = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            for key, value in vars(record).items():
                if key not in _STANDARD and not key.startswith("_"):
                    entry[key] = value
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            text = json.dumps(entry, ensure_ascii=False, default=str)
        else:
            text = super().format(record)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text
