"""The JSON API on ``run --http`` (``/api/v1/…``, described by ``/api/v1/openapi.json``).

Reads are open, as ``/metrics`` is. Writes (silences, reload) take ``Authorization: Bearer
TOKEN`` when a token is set (``--http-token`` or ``$PXRULES_HTTP_TOKEN``); without one they are
served on a loopback address only. The API sets no cookies, and a write that a browser sends
from another origin (its ``Origin`` header names another host) is refused, so a web page cannot
make a visitor's browser silence alerts. Every error is JSON: ``{"error": MESSAGE}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ..engine import SilenceError
from .console import DEFAULT_LIMIT, MAX_LIMIT, Console
from .openapi import document as openapi_document

PREFIX = "/api/v1"
#: The largest request body the API reads (a silence is a few hundred bytes).
MAX_BODY = 64 * 1024
#: How often a status page's stream looks for changes; a quiet stream sends a comment line
#: every KEEPALIVE seconds. At most MAX_STREAMS pages are served live at once.
STREAM_EVERY = 0.5
KEEPALIVE = 15.0
MAX_STREAMS = 16
#: The status page's own files (no CDN: it works without internet).
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever takes connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors under /api/ and /-/ as JSON (aiohttp's own 404/405 pages are text)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith((PREFIX, "/-/")) or exc.status < 400:
            raise
        return error(exc.status, exc.reason)


class Api:
    """Routes for :class:`~pxrules.daemon.http.HttpServer`, over a :class:`Console`."""

    def __init__(
        self,
        console: Console,
        reload: Callable[[], Awaitable[tuple[bool, str | None]]],
        *,
        token: str | None,
        host: str,
    ) -> None:
        self.console = console
        self._reload = reload
        self._token = token or None
        self.writes_open = self._token is not None or is_loopback(host)
        self.streams = 0  # status pages connected now
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every live stream (the server is stopping)."""
        self._closing.set()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/alerts", self.alerts),
            web.get(f"{PREFIX}/keys", self.keys),
            web.get(PREFIX + "/keys/{key:.+}/history", self.key_history),
            web.get(f"{PREFIX}/rules", self.rules),
            web.get(f"{PREFIX}/deliveries", self.deliveries),
            web.get(f"{PREFIX}/silences", self.silences),
            web.post(f"{PREFIX}/silences", self.add_silence),
            web.delete(PREFIX + "/silences/{id}", self.expire_silence),
            web.post("/-/reload", self.reload),
            web.get(f"{PREFIX}/openapi.json", self.openapi),
            web.get(f"{PREFIX}/stream", self.stream),
            web.get("/", self.page),
            web.get("/static/{name}", self.static),
        ]

    # -- reads ------------------------------------------------------------------------------

    async def alerts(self, _request: web.Request) -> web.Response:
        return web.json_response({"alerts": self.console.alerts()})

    async def keys(self, request: web.Request) -> web.Response:
        limit = _limit(request)
        match = request.query.get("match") or None
        project = request.query.get("project") or None
        return web.json_response(self.console.keys(match, limit, project))

    async def key_history(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        found = self.console.key_history(key, request.query.get("project") or None)
        if found is None:
            return error(404, f"no key {key!r}")
        return web.json_response(found)

    async def rules(self, _request: web.Request) -> web.Response:
        return web.json_response(self.console.rules())

    async def deliveries(self, request: web.Request) -> web.Response:
        status = request.query.get("status") or None
        if status not in (None, "pending", "failed", "delivered"):
            return error(400, "status: one of pending, failed, delivered")
        return web.json_response(await self.console.deliveries(status, _limit(request, 100)))

    async def silences(self, _request: web.Request) -> web.Response:
        return web.json_response({"silences": self.console.list_silences()})

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    # -- the status page ----------------------------------------------------------------------

    async def page(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=_asset("index.html"), content_type="text/html", charset="utf-8",
            headers=PAGE_HEADERS,
        )  # fmt: skip

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            return error(404, f"no file {name!r}")
        return web.Response(
            body=_asset(name), content_type=STATIC[name], charset="utf-8", headers=PAGE_HEADERS
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: an ``update`` with the page's document whenever it changes."""
        if self.streams >= MAX_STREAMS:
            return error(503, f"more than {MAX_STREAMS} live status pages; try again later")
        match = request.query.get("match") or None
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                     "X-Accel-Buffering": "no"},
        )  # fmt: skip
        await response.prepare(request)
        self.streams += 1
        try:
            last, quiet = b"", 0.0
            while not self._closing.is_set():
                data = json.dumps(await self.console.page(match)).encode()
                if data != last:
                    await response.write(b"event: update\ndata: " + data + b"\n\n")
                    last, quiet = data, 0.0
                elif quiet >= KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    quiet = 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), STREAM_EVERY)
                quiet += STREAM_EVERY
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            self.streams -= 1
        return response

    # -- writes -----------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        """Why this write is not served, or ``None`` when it may go on."""
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return error(403, "a write from another origin is refused")
        if self._token is None:
            if not self.writes_open:
                return error(
                    403, "writes need a token on a non-loopback address: start with --http-token"
                )
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.encode(), self._token.encode()
        ):
            return web.json_response(
                {"error": "a valid 'Authorization: Bearer TOKEN' header is required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="pxrules"'},
            )
        return None

    async def add_silence(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        if isinstance(body, dict) and "created_by" not in body:
            body["created_by"] = request.headers.get("X-Pxrules-User", "api")[:100]
        try:
            silence = await self.console.add_silence(body)
        except SilenceError as exc:
            return error(400, str(exc))
        return web.json_response({"id": silence.id, **silence.to_document(self.console.now())})

    async def expire_silence(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        ident = request.match_info["id"]
        ended = await self.console.expire_silence(ident)
        if ended is None:
            return error(404, f"no silence {ident!r}")
        return web.json_response(ended.to_document(self.console.now()))

    async def reload(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        ok, problem = await self._reload()
        if not ok:
            return web.json_response({"ok": False, "error": problem}, status=422)
        return web.json_response({"ok": True})


@cache
def _asset(name: str) -> bytes:
    return resources.files("pxrules.daemon").joinpath("static", name).read_bytes()


def _limit(request: web.Request, default: int = DEFAULT_LIMIT) -> int:
    text = request.query.get("limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise web.HTTPBadRequest(reason=f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(text)


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error(413, f"the body is larger than {MAX_BODY} bytes")
    if request.content_type != "application/json":
        return error(415, "send the body as JSON (Content-Type: application/json)")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return error(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, f"the body is not JSON: {exc}")
