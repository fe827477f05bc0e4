"""Write back to PxServ over REST: set (values are templates), toggle, remove."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ...rules.schema import PxServWriteSpec
from ...rules.templates import Template, TemplateError
from .base import Outcome, Result, classify_http


class PxServTarget:
    def __init__(
        self,
        name: str,
        spec: PxServWriteSpec,
        url: str,
        api_key: str,
        session: aiohttp.ClientSession,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._spec = spec
        self._url = url.rstrip("/")
        self._api_key = api_key
        self._session = session
        self._timeout = timeout
        self._templates = {key: Template(value) for key, value in spec.set.items()}

    def _writes(self, document: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
        writes = [
            ("setData", {"key": key, "value": template.render(**document)})
            for key, template in self._templates.items()
        ]
        writes += [("toggleData", {"key": key}) for key in self._spec.toggle]
        writes += [("removeData", {"key": key}) for key in self._spec.remove]
        return writes

    async def send(self, document: dict[str, Any]) -> Result:
        try:
            writes = self._writes(document)
        except TemplateError as exc:
            return Result(Outcome.PERMANENT, str(exc))
        done = []
        for action, body in writes:
            result = await self._call(action, body)
            if result.outcome is not Outcome.DELIVERED:
                return Result(
                    result.outcome, f"{action} {body['key']}: {result.detail}", result.retry_after
                )
            done.append(f"{action} {body['key']}")
        return Result(Outcome.DELIVERED, ", ".join(done))

    async def _call(self, action: str, body: dict[str, str]) -> Result:
        try:
            async with self._session.post(
                f"{self._url}/database/{action}",
                json=body,
                headers={"apikey": self._api_key},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                try:
                    envelope = await response.json(content_type=None)
                    message = envelope.get("message", "") if isinstance(envelope, dict) else ""
                except ValueError:
                    message = ""
                return classify_http(response.status, str(message)[:120])
        except TimeoutError:
            return Result(Outcome.RETRY, f"timed out after {self._timeout:g}s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            return Result(Outcome.RETRY, type(exc).__name__)

    async def close(self) -> None:
        return None
