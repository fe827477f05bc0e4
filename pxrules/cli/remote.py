"""Talking to a running daemon's JSON API: the options every such command takes (``--http``,
``--http-token``) and one small client over the standard library (no event loop needed)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from ..errors import ExitCode

DEFAULT_HTTP = "127.0.0.1:9464"
TIMEOUT = 10.0


class Unreachable(Exception):
    """No answer from the daemon (nothing listens, a timeout, not our API)."""


class ApiError(Exception):
    """The daemon answered with an error; ``status`` and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def daemon_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--http HOST:PORT`` and ``--http-token`` (parameters ``http``, ``http_token``)."""
    command = click.option(
        "--http-token",
        envvar="PXRULES_HTTP_TOKEN",
        default=None,
        metavar="TOKEN",
        help="The daemon's --http-token, for writes [env: PXRULES_HTTP_TOKEN].",
    )(command)
    return click.option(
        "--http",
        envvar="PXRULES_HTTP",
        default=DEFAULT_HTTP,
        show_default=True,
        metavar="HOST:PORT",
        help="Where the daemon's --http listens [env: PXRULES_HTTP].",
    )(command)


class DaemonClient:
    """``GET``/``POST``/``DELETE`` on the daemon's API; JSON in and out."""

    def __init__(self, http: str, token: str | None = None, timeout: float = TIMEOUT) -> None:
        base = http if "://" in http else f"http://{http if ':' in http else f':{http}'}"
        if base.startswith("http://:"):
            base = "http://127.0.0.1:" + base.removeprefix("http://:")
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, **query: Any) -> Any:
        given = {name: value for name, value in query.items() if value is not None}
        suffix = f"?{urllib.parse.urlencode(given)}" if given else ""
        return self._call("GET", path + suffix)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error") or exc.reason
            except (ValueError, AttributeError):
                raise Unreachable(f"{self.base} answered {exc.code}: not a pxrules API") from None
            raise ApiError(exc.code, str(message)) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"cannot reach the daemon at {self.base}: {reason}") from None


def fail(message: str, code: ExitCode) -> NoReturn:
    click.echo(f"pxrules: {message}", err=True)
    sys.exit(code)


def call(action: Callable[[], Any]) -> Any:
    """Run ``action``; an unreachable daemon or an API error ends the command with exit 2 (a
    request the daemon rejects as invalid, 400, with 1)."""
    try:
        return action()
    except Unreachable as exc:
        fail(f"{exc} (is `pxrules run --http ...` running? see --http)", ExitCode.USAGE)
    except ApiError as exc:
        hint = " (give --http-token or set PXRULES_HTTP_TOKEN)" if exc.status == 401 else ""
        code = ExitCode.INVALID if exc.status == 400 else ExitCode.USAGE
        fail(f"the daemon refused: {exc}{hint}", code)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; ``-`` for an empty one.

    >>> print(table(["A", "BB"], [["x", None], ["long", 2]]))
    A     BB
    x     -
    long  2
    """
    cells = [[("-" if c is None or c == "" else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
