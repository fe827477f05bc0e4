"""``${VAR}`` interpolation in rules-file strings.

``${VAR}`` is the variable's value, ``${VAR:-default}`` falls back when it is unset or empty,
and ``$${literal}`` is the text ``${literal}``.

>>> interpolate("Bearer ${TOKEN}", {"TOKEN": "t0k"})
('Bearer t0k', [])
>>> interpolate("${MISSING:-x} $${KEEP}", {})
('x ${KEEP}', [])
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Return the text with variables replaced, and the names of unset variables.

    An unset variable without a default is left in place as ``${NAME}``.
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            missing.append(name)
            return match.group(0)
        return value

    if "$" not in text:
        return text, missing
    return _PATTERN.sub(replace, text), missing
