"""Templates: the sandbox, undefined names, the names they read, the localtime filter."""

from __future__ import annotations

import pytest

from pxrules.rules.templates import SAMPLE, Template, TemplateError


def test_a_template_knows_the_names_it_reads() -> None:
    assert Template("{{ key }} at {{ at }} ({{ values['x'] }})").names == {"key", "at", "values"}


def test_an_undefined_name_is_an_error_that_names_it() -> None:
    with pytest.raises(TemplateError, match="undefined name: 'valeu' is undefined"):
        Template("{{ valeu }}").check()


def test_the_sandbox_refuses_reaching_into_python() -> None:
    with pytest.raises(TemplateError, match="sandbox"):
        Template("{{ key.__class__.__mro__ }}").render(**SAMPLE)


def test_a_syntax_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        Template("{{ key ")


def test_every_documented_name_is_in_the_check_sample_and_the_engine_context() -> None:
    """NAMES is what docs/rules.md lists: `check` renders against SAMPLE, the engine against
    its own context; a template reading every name works in both."""
    from reactivex.testing import TestScheduler

    from pxrules.engine import Engine, RuleSet
    from pxrules.events import Event
    from pxrules.rules.templates import NAMES

    assert set(SAMPLE) == set(NAMES)
    every = " ".join(f"{name}={{{{ {name} }}}}" for name in NAMES if name != "values")
    ruleset = RuleSet.from_text(
        "project: p\nrules: [{name: hot, key: t, when: {above: 30}, "
        f"message: '{every} values={{{{ values.t }}}}'}}]"
    )
    Template(ruleset.rules[0].definition.message.source).check()
    scheduler = TestScheduler()
    alerts: list[str] = []
    engine = Engine(ruleset, scheduler, lambda alert: alerts.append(alert.message))
    engine.on_event(
        Event(kind="set", key="t", value="31", number=31.0, at=scheduler.now, icon="th")
    )
    assert len(alerts) == 1
    assert alerts[0].startswith(
        "project=p rule=hot description= key=t value=31 number=31.0 previous=None"
    )
    assert "icon=th" in alerts[0] and alerts[0].endswith("values=31")


def test_the_localtime_filter_shows_a_time_in_a_zone() -> None:
    since = "2025-03-31T17:40:19.653Z"
    assert Template("{{ since | localtime('%H:%M', 'Europe/Istanbul') }}").render(since=since) == (
        "20:40"
    )
    shown = Template("{{ since | localtime }}").render(since=since)
    from datetime import UTC, datetime

    local = datetime(2025, 3, 31, 17, 40, 19, 653000, tzinfo=UTC).astimezone()
    assert shown == local.strftime("%H:%M:%S")
