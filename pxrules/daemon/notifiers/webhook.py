"""POST the alert document as JSON, optionally signed (Standard Webhooks: pxrules.webhooks)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from ... import __version__
from ...rules.schema import WebhookSpec
from ...webhooks import sign
from .base import HttpTarget, Result, classify_http

MAX_RESPONSE_BYTES = 64 * 1024


class WebhookTarget(HttpTarget):
    def __init__(self, name: str, spec: WebhookSpec, session: aiohttp.ClientSession) -> None:
        self.name = name
        self._spec = spec
        self._session = session
        self.timeout = spec.timeout

    async def send(self, document: dict[str, Any]) -> Result:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"pxrules/{__version__}",
            **self._spec.headers,
        }
        if self._spec.secret:
            headers.update(sign(body, str(document["id"]), self._spec.secret))
        return await self.attempt(self._post(body, headers))

    async def _post(self, body: bytes, headers: dict[str, str]) -> Result:
        async with self._session.request(
            self._spec.method,
            self._spec.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as response:
            # The status is the answer; of the body only a little is read (a receiver that
            # answers with gigabytes must not fill memory), the rest is dropped with the connection.
            await response.content.read(MAX_RESPONSE_BYTES)
            return classify_http(
                response.status, response.reason or "", response.headers.get("Retry-After")
            )
