"""``project:`` (docs/rules.md): the name in every alert document and template, a label for
silences; the file's name when the file names none; checked like every other field."""

from __future__ import annotations

from pathlib import Path

from reactivex.testing import TestScheduler

from pxrules.alerts import Alert
from pxrules.engine import Engine, RuleSet, Silence, SilenceBook
from pxrules.engine.ruleset import load_rules
from pxrules.events import Event
from pxrules.rules.load import load_file

RULE = "rules: [{name: hot, key: t, when: {above: 30}, message: '{{ project }}: {{ value }}'}]\n"


def fire(ruleset: RuleSet, silences: SilenceBook | None = None) -> list[Alert]:
    clock = TestScheduler()
    got: list[Alert] = []
    engine = Engine(ruleset, clock, got.append, silences=silences)
    engine.on_event(Event(kind="set", key="t", value="31", number=31.0, at=clock.now))
    return got


def test_the_project_named_in_the_file_is_in_the_document_and_the_templates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "whatever.yaml"
    path.write_text("project: greenhouse-7\n" + RULE, encoding="utf-8")
    (alert,) = fire(load_rules(str(path)))
    assert alert.project == "greenhouse-7" and alert.to_document()["project"] == "greenhouse-7"
    assert alert.message == "greenhouse-7: 31"


def test_without_one_the_project_is_the_files_name(tmp_path: Path) -> None:
    path = tmp_path / "cellar.yml"
    path.write_text(RULE, encoding="utf-8")
    (alert,) = fire(load_rules(str(path)))
    assert alert.to_document()["project"] == "cellar"


def test_a_silence_matches_on_the_project(tmp_path: Path) -> None:
    path = tmp_path / "cellar.yaml"
    path.write_text(RULE, encoding="utf-8")
    at = TestScheduler().now

    def book(project: str) -> SilenceBook:
        return SilenceBook([Silence.create({"project": project}, starts_at=at, duration="1h")])

    assert fire(load_rules(str(path)), book("cell*")) == []
    assert len(fire(load_rules(str(path)), book("attic"))) == 1


def test_a_bad_project_name_is_reported_at_its_position(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("# a comment\nproject: 'my project!'\n" + RULE, encoding="utf-8")
    result = load_file(str(path))
    assert result.config is None
    assert [(p.line, p.column, p.severity) for p in result.problems] == [(2, 10, "error")]
    assert "project 'my project!': letters, digits" in result.problems[0].message
