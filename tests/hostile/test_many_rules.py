"""A new key matched by many glob rules costs one pass over the globs, not rules² comparisons."""

from __future__ import annotations

import pytest

from pxrules.engine import RuleSet
from pxrules.engine.compiled import CompiledRule


def test_planning_a_key_never_compares_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old `rule not in matched` compared frozen dataclasses field by field: 8 M
    comparisons for one key under 4,000 rules. Planning must not compare rules at all."""
    rules = "rules:\n" + "".join(
        f"  - {{name: r{i}, keys: ['*', 'k*'], when: {{above: {i}}}}}\n" for i in range(4000)
    )
    ruleset = RuleSet.from_text(rules)

    def refuse(self: CompiledRule, other: object) -> bool:
        raise AssertionError("rules compared while planning a key")

    monkeypatch.setattr(CompiledRule, "__eq__", refuse)
    planned = ruleset.rules_for("k/new")
    assert [rule.index for rule in planned] == list(range(4000))  # each once, in file order
