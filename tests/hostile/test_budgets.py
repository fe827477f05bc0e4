"""No rules author or device can stall evaluation: `matches` is linear time (RE2), templates
have budgets, and check says so before the daemon runs them."""

from __future__ import annotations

import pytest

from pxrules.rules import load_text

from ..engine.harness import run


@pytest.mark.timeout(20)  # with a backtracking engine this test would not end (2**64 steps)
def test_a_catastrophic_pattern_and_a_crafted_value_do_not_stall_the_engine() -> None:
    rules = (
        "rules:\n"
        "  - {name: redos, key: s, when: {matches: '^(a+)+$'}}\n"
        "  - {name: other, key: s, when: {equals: 'ok'}}\n"
    )
    crafted = "a" * 64 + "!"
    got = run(rules, [(0, "s", crafted), (1, "s", "a" * 64), (2, "s", "ok")])
    assert got == [(1.0, "firing", "s", "a" * 64), (2.0, "firing", "s", "ok")]


def test_check_rejects_a_pattern_re2_cannot_run_with_the_reason() -> None:
    result = load_text("rules: [{name: a, key: k, when: {matches: '(a)\\1'}}]\n", "r.yaml")
    assert [str(p) for p in result.errors] == [
        "r.yaml:1:43: error: rules[0].when.matches: invalid regular expression for RE2 "
        "(linear-time matching): invalid escape sequence: \\1 — RE2 has no backreferences "
        "and no lookaround"
    ]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 'x' * 100000000 }}", "template builds a value of 100000000 items (limit 100000)"),
        (
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
            "template loops over more than 100000 range() items",
        ),
        ("{{ 10 ** 100000000 }}", "exponent 100000000 is over the template limit of 1000"),
    ],
)
def test_check_reports_a_template_over_its_budget(template: str, reason: str) -> None:
    text = f'rules: [{{name: a, key: k, when: {{above: 1}}, message: "{template}"}}]\n'
    problems = load_text(text).errors
    assert [p.message for p in problems] == [f"template refused by the sandbox: {reason}"]


def test_templates_within_the_budgets_render() -> None:
    from pxrules.rules.templates import Template

    text = "{{ key * 3 }} {% for i in range(3) %}{{ i }}{% endfor %} {{ 2 ** 10 }}"
    assert Template(text).render(key="ab") == "ababab 012 1024"


def test_a_template_output_over_64_kib_is_an_error() -> None:
    from pxrules.rules.templates import Template, TemplateError

    with pytest.raises(TemplateError, match="template output is over 65536 characters"):
        Template("{% for i in range(9000) %}{{ key }}{% endfor %}").render(key="humidity")
