"""POST the alert document as JSON, optionally signed (Standard Webhooks)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from ... import __version__
from ...rules.schema import WebhookSpec
from ...webhooks import sign
from .base import Outcome, Result, classify_http


class WebhookTarget:
    def __init__(self, name: str, spec: WebhookSpec, session: aiohttp.ClientSession) -> None:
        self.name = name
        self._spec = spec
        self._session = session

    async def send(self, document: dict[str, Any]) -> Result:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"pxrules/{__version__}",
            **self._spec.headers,
        }
        if self._spec.secret:
            headers.update(sign(body, str(document["id"]), self._spec.secret))
        try:
            async with self._session.request(
                self._spec.method,
                self._spec.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._spec.timeout),
            ) as response:
                await response.read()
                return classify_http(
                    response.status, response.reason or "", response.headers.get("Retry-After")
                )
        except TimeoutError:
            return Result(Outcome.RETRY, f"timed out after {self._spec.timeout:g}s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            # Connection refused/reset, DNS failure: the URL is not in the message (it may hold
            # a token); the exception's class and errno-style text are.
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {_short(exc)}")

    async def close(self) -> None:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc)
    # aiohttp puts "host:port" and sometimes the URL in messages; keep the reason only.
    return text.split(" [", 1)[-1].rstrip("]")[:120] if " [" in text else type(exc).__name__
