"""``matches`` patterns run on RE2 (google-re2): linear time in the length of the value,
whatever the pattern, so no device can stall evaluation with a crafted value (ReDoS).

RE2 has no backreferences and no lookaround; ``check`` rejects such patterns with the reason.

>>> search = compile_pattern(r"^ERR-\\d+")
>>> bool(search("ERR-17 overheated")), bool(search("ok"))
(True, False)
>>> compile_pattern(r"(a)\\1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pxrules.rules.regex.RegexError: invalid regular expression ...: invalid escape sequence: \\1 ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own line on stderr for each bad pattern


class RegexError(ValueError):
    """A pattern RE2 cannot run."""


def compile_pattern(pattern: str) -> Callable[[str], Any]:
    """The pattern's ``search``: a match object or ``None``, as ``re.search`` gives."""
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hint = ""
        if "escape sequence" in str(reason) or "perl operator" in str(reason):
            hint = " — RE2 has no backreferences and no lookaround"
        raise RegexError(
            f"invalid regular expression for RE2 (linear-time matching): {reason}{hint}"
        ) from None
    return compiled.search  # type: ignore[no-any-return]
