"""Templates: the sandbox, undefined names, the names they read, and the built-in texts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pxrules.rules.templates import (
    DEFAULT_MESSAGE,
    DEFAULT_TITLE,
    SAMPLE,
    Template,
    TemplateError,
    default_message,
    default_title,
)

text = st.text(max_size=20)


@given(rule=text, state=st.sampled_from(["firing", "resolved"]), key=text, value=text | st.none())
def test_the_built_in_title_is_what_jinja_renders(
    rule: str, state: str, key: str, value: str | None
) -> None:
    context = {"rule": rule, "state": state, "key": key, "value": value}
    assert default_title(rule, state, key, value) == Template(DEFAULT_TITLE).render_jinja(**context)


@given(rule=text, description=text, key=text, value=text | st.none(), since=text)
def test_the_built_in_message_is_what_jinja_renders(
    rule: str, description: str, key: str, value: str | None, since: str
) -> None:
    context = {"rule": rule, "description": description, "key": key, "value": value, "since": since}
    expected = Template(DEFAULT_MESSAGE).render_jinja(**context)
    assert default_message(rule, description, key, value, since) == expected


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


def test_render_map_falls_back_to_jinja_when_a_default_misses_a_name() -> None:
    with pytest.raises(TemplateError, match="undefined"):
        Template(DEFAULT_TITLE).render_map({"rule": "r", "key": "k", "value": "v"})


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
        "rules: [{name: hot, key: t, when: {above: 30}, "
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
    assert alerts[0].startswith("rule=hot description= key=t value=31 number=31.0 previous=None")
    assert "icon=th" in alerts[0] and alerts[0].endswith("values=31")
