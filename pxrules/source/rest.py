"""One PxServ REST client: the snapshot (``getAll``) and the write-back notifier use it alike.

Every call sends the project key in the ``apikey`` header and reads PxServ's JSON envelope
``{"status", "message", "data"}``. Errors of aiohttp are turned into :class:`RestError` where
they enter, with whether trying again may help.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ..events import DEFAULT_URL


class RestError(Exception):
    """A failed REST call; ``status`` is the HTTP status (None: no answer), ``message`` the
    server's own, ``retry_after`` its Retry-After header."""

    def __init__(
        self,
        detail: str,
        status: int | None = None,
        message: str = "",
        retry_after: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class PxServRest:
    """REST calls to one project. ``session`` is shared (the daemon's) or owned (created on
    first use and closed by :meth:`close`)."""

    def __init__(
        self,
        api_key: str,
        url: str = DEFAULT_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._api_key = api_key
        self.url = url.rstrip("/")
        self._session = session
        self._owned = session is None
        self.timeout = timeout

    def __repr__(self) -> str:  # the key is deliberately absent
        return f"PxServRest(url={self.url!r})"

    async def get_all(self) -> dict[str, Any]:
        """``GET /database/getAll``: the current value of every key."""
        data = await self.call("GET", "getAll")
        if not isinstance(data, dict):
            raise RestError("getAll returned no object", 200)
        return data

    async def call(self, method: str, action: str, body: Any = None) -> Any:
        """``METHOD /database/ACTION`` with a JSON body; the envelope's ``data`` on HTTP 200.

        Raises :class:`RestError` for any other status, a body that is not JSON, a timeout
        or a connection failure.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                method,
                f"{self.url}/database/{action}",
                json=body,
                headers={"apikey": self._api_key},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,  # a redirect would carry the apikey header elsewhere
            ) as response:
                try:
                    envelope = await response.json(content_type=None)
                except ValueError:
                    envelope = None
                message = envelope.get("message") if isinstance(envelope, dict) else None
                message = str(message or "")[:120]
                if response.status != 200 or not isinstance(envelope, dict):
                    detail = f"{action}: HTTP {response.status} {message}".strip()
                    if 300 <= response.status < 400:
                        detail = f"{action}: HTTP {response.status}: redirects are not followed"
                    if envelope is None:
                        detail = f"{action}: HTTP {response.status}, body is not JSON"
                    retry_after = response.headers.get("Retry-After")
                    raise RestError(detail, response.status, message, retry_after)
                return envelope.get("data")
        except TimeoutError:
            raise RestError(f"timed out after {self.timeout:g}s") from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise RestError(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None
