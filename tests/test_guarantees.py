"""docs/guarantees.md names a test for every promise: each one must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
TEXT = (ROOT.parent / "docs" / "guarantees.md").read_text(encoding="utf-8")
NAMED = sorted(set(re.findall(r"`([\w/]+\.py)::(\w+)`", TEXT)))


def test_the_map_names_tests() -> None:
    assert len(NAMED) >= 50


@pytest.mark.parametrize(("path", "name"), NAMED)
def test_every_named_test_exists(path: str, name: str) -> None:
    file = ROOT / path
    assert file.is_file(), f"docs/guarantees.md names {path}, which does not exist"
    tree = ast.parse(file.read_text(encoding="utf-8"))
    functions = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert name in functions, f"docs/guarantees.md names {path}::{name}, which does not exist"
