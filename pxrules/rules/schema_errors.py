"""pydantic's validation errors, said in the words of the rules file.

>>> did_you_mean("abvoe", ["above", "below"])
" (did you mean 'above'?)"
>>> join_alternatives(["Input should be a valid string", "Input should be a valid number"])
'Input should be a valid string or a valid number'
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from .schema import (
    Condition,
    DefaultsSpec,
    FlappingSpec,
    GroupSpec,
    InhibitSpec,
    NotifierSpec,
    PxServWriteSpec,
    RuleSpec,
    SourceSpec,
    TimeIntervalSpec,
    WebhookSpec,
)
from .yamldoc import Path

#: The fields a rules file may have at its top.
TOP_LEVEL = ("project", "source", "notifiers", "defaults", "time_windows", "inhibit", "rules")


def _all_field_names() -> list[str]:
    names: set[str] = set(TOP_LEVEL)
    models: list[type[BaseModel]] = [
        Condition,
        RuleSpec,
        SourceSpec,
        NotifierSpec,
        DefaultsSpec,
        WebhookSpec,
        PxServWriteSpec,
        TimeIntervalSpec,
        InhibitSpec,
        FlappingSpec,
        GroupSpec,
    ]
    for model in models:
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
    return sorted(names)


FIELD_NAMES = _all_field_names()


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(error: Any, data: Any) -> tuple[Path, bool, str]:
    """Map one pydantic error to (path in the data, points at a key?, message)."""
    loc: list[str | int] = []
    node = data
    raw = list(error["loc"])
    kind = error["type"]
    for i, part in enumerate(raw):
        last = i == len(raw) - 1
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            loc.append(part)
            node = node[part]
        elif last and kind == "missing" and isinstance(part, str):
            return tuple(loc), False, f"missing required field {part!r}"
        # anything else is a union member's tag (``str``, ``list[...]``): not in the data
    message = str(error["msg"])
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        return tuple(loc), True, f"unknown field {name!r}{did_you_mean(name, FIELD_NAMES)}"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    field = loc[-1] if loc and isinstance(loc[-1], str) else None
    if kind in ("model_type", "dict_type") and field in CONDITION_FIELDS:
        return (
            tuple(loc),
            False,
            (
                f"{field} is a mapping of conditions, e.g. `{field}: {{above: 70}}` "
                f"(got {_shown(node)})"
            ),
        )
    if kind in ("model_type", "dict_type") and len(loc) >= 2 and loc[-2] == "where":
        return (
            tuple(loc),
            False,
            (
                f"a key under where takes a mapping of conditions, e.g. `{loc[-1]}: "
                f"{{equals: closed}}` (got {_shown(node)})"
            ),
        )
    if kind == "list_type" and field in LIST_FIELDS:
        example = LIST_FIELDS[field]
        return (
            tuple(loc),
            False,
            f"{field} is a list, e.g. `{field}: {example}` (got {_shown(node)})",
        )
    if kind == "literal_error" and isinstance(node, str) and loc and loc[-1] == "severity":
        message += did_you_mean(node, ["info", "warning", "critical"])
    return tuple(loc), False, message


#: Fields whose value is a condition mapping, and list fields with an example of their form.
CONDITION_FIELDS = frozenset({"when", "clear", "not"})
LIST_FIELDS = {
    "notify": "[phone, ops-hook]",
    "keys": '["greenhouse/*"]',
    "in": '["open", "ajar"]',
    "not_in": '["ok"]',
    "toggle": "[buzzer]",
    "remove": "[alert]",
    "all": "[{above: 10}, {below: 20}]",
    "any": "[{equals: open}, {equals: ajar}]",
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def join_alternatives(messages: list[str]) -> str:
    """Union members each complain; say it once: 'Input should be a valid string or number'."""
    if len(messages) == 1:
        return messages[0]
    prefix = "Input should be "
    if all(m.startswith(prefix) for m in messages):
        return prefix + " or ".join(m.removeprefix(prefix) for m in messages)
    return "; or ".join(messages)
