"""The docs' rules files are real: every cookbook recipe passes `check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pxrules.rules import load_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
RECIPES = BLOCK.findall((DOCS / "cookbook.md").read_text(encoding="utf-8"))


def test_cookbook_has_ten_recipes() -> None:
    assert len(RECIPES) == 10


@pytest.mark.parametrize("number", range(1, len(RECIPES) + 1))
def test_cookbook_recipe_is_valid(number: int) -> None:
    result = load_text(RECIPES[number - 1], f"cookbook#{number}", env={"PXSERV_API_KEY": "k"})
    assert result.ok, [str(p) for p in result.problems]
    assert not result.warnings, [str(p) for p in result.warnings]
