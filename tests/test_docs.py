"""The docs' rules files are real: every cookbook recipe passes `check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pxrules.rules import load_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
RECIPES = BLOCK.findall((DOCS / "cookbook.md").read_text(encoding="utf-8"))


def test_cookbook_has_thirteen_recipes() -> None:
    assert len(RECIPES) == 13


@pytest.mark.parametrize("number", range(1, len(RECIPES) + 1))
def test_cookbook_recipe_is_valid(number: int) -> None:
    result = load_text(RECIPES[number - 1], f"cookbook#{number}", env={"PXSERV_API_KEY": "k"})
    assert result.ok, [str(p) for p in result.problems]
    assert not result.warnings, [str(p) for p in result.warnings]


def python_block_after(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8").split(heading, 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_simulator_example_in_embedding_md_runs() -> None:
    namespace: dict[str, object] = {}
    code = python_block_after(DOCS / "embedding.md", "## Testing against a local PxServ")
    exec(compile(code, "embedding.md", "exec"), namespace)
    await namespace["test_humid_fires"]()  # type: ignore[operator]


def test_the_readme_library_example_ends_quietly_on_ctrl_c() -> None:
    code = python_block_after(DOCS.parent / "README.md", "## As a library")
    assert "with contextlib.suppress(KeyboardInterrupt):" in code
    compile(code, "README.md", "exec")  # it is Python as printed


def test_the_turkish_quick_start_rules_are_valid_and_turkish() -> None:
    text = (DOCS.parent / "README.tr.md").read_text(encoding="utf-8")
    first = text.split("cat > kurallarim.yaml <<'EOF'\n", 1)[1].split("EOF\n", 1)[0]
    blocks = [first, *BLOCK.findall(text)]
    env = {"PXSERV_API_KEY": "k", "TG_TOKEN": "123456:ABCdef", "TG_CHAT": "42"}
    for number, block in enumerate(blocks):
        result = load_text(block, f"README.tr.md#{number}", env=env)
        assert result.ok, [str(p) for p in result.problems]
        assert result.config is not None
        assert {rule.language for rule in result.config.rules} == {"tr"}
    assert len(blocks) == 2
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert "[Türkçe: sıfırdan ilk alarma → README.tr.md](README.tr.md)" in readme


def test_the_virtual_time_examples_in_embedding_md_hold() -> None:
    text = (DOCS / "embedding.md").read_text(encoding="utf-8")
    section = text.split("## Testing your rules in virtual time", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(BLOCK_PY.findall(section))
    assert "silences=book" in code and code.count("assert got ==") == 2
    exec(compile(code, "embedding.md", "exec"), {})


BLOCK_PY = re.compile(r"```python\n(.*?)```", re.DOTALL)
