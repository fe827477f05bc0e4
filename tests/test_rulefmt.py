"""Loading valid files: defaults, interpolation, YAML niceties, compiled rule definitions."""

from __future__ import annotations

import unicodedata

import pytest

from pxrules.rules import RulesError, load_config, load_text
from pxrules.rules.durations import DurationError, format_duration, parse_duration
from pxrules.rules.envvars import interpolate


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        (15, 15),
        ("2.5", 2.5),
        ("1m 30s", 90),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "-1s", "0", 0, True, "1:30", "m5", None, "1e3s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.25, 90, 5400, 86400 + 1.5)] == [
        "250ms",
        "1m30s",
        "1h30m",
        "1d1s500ms",
    ]


def test_interpolation_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("${A}-${B:-two}-$${A}-${EMPTY:-d}", env) == ("1-two-${A}-d", [])
    assert interpolate("x${NOPE}y${NOPE}", env) == ("x${NOPE}y${NOPE}", ["NOPE", "NOPE"])


def config_of(text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    result = load_text(text, "r.yaml", env=env or {})
    assert result.ok, [str(p) for p in result.problems]
    assert result.config is not None
    return result.config


def test_defaults_apply_to_fields_the_rule_does_not_set() -> None:
    config = config_of(
        """
notifiers: {hook: {webhook: {url: "http://127.0.0.1:9/h"}}}
defaults: {notify: [hook], cooldown: 10m, for: 1m, resolve: true, severity: critical}
rules:
  - {name: a, key: h, when: {above: 70}}
  - {name: b, key: h, when: {above: 70}, cooldown: 30s, notify: [log], resolve: false}
  - {name: door, key: door, when: {changed: true}}
"""
    )
    a, b, door = config.rules
    assert (a.notify, a.cooldown, a.for_, a.resolve, a.severity) == (
        ("hook",),
        600.0,
        60.0,
        True,
        "critical",
    )
    assert (b.notify, b.cooldown, b.for_, b.resolve) == (("log",), 30.0, 60.0, False)
    # an event rule takes the defaults that make sense for it, not for/resolve
    assert (door.is_event_rule, door.for_, door.resolve, door.cooldown) == (True, None, False, 600)


def test_rule_without_notify_goes_to_log() -> None:
    config = config_of("rules: [{name: a, key: h, when: {above: 1}}]")
    assert config.rules[0].notify == ("log",)
    assert config.rules[0].severity == "warning"


def test_keys_are_nfc_and_bool_words_allowed_for_boolean_fields() -> None:
    decomposed = unicodedata.normalize("NFD", "sıcaklık-é")
    config = config_of(
        f"source: {{snapshot: no}}\nrules:\n  - name: t\n    key: {decomposed}\n"
        f"    when: {{above: 30}}\n    resolve: yes\n    where: {{{decomposed}: {{below: 5}}}}\n"
    )
    rule = config.rules[0]
    assert rule.key == "sıcaklık-é" and list(rule.where) == ["sıcaklık-é"]
    assert rule.resolve is True and config.source.snapshot is False


def test_merge_keys_and_anchors() -> None:
    config = config_of(
        """
defaults: &common {for: 2m, severity: info}
rules:
  - {<<: *common, name: a, key: h, when: {above: 1}}
  - {<<: *common, name: b, key: t, when: {below: 1}, severity: critical}
"""
    )
    assert [(r.for_, r.severity) for r in config.rules] == [(120, "info"), (120, "critical")]


def test_interpolated_values_are_validated() -> None:
    config = config_of(
        "source: {api_key: '${KEY}'}\nrules: [{name: a, key: h, when: {above: '${T:-70}'}}]",
        env={"KEY": "k-1"},
    )
    assert config.source.api_key == "k-1"
    assert config.rules[0].when.above == 70.0


def test_longest_duration() -> None:
    config = config_of(
        "rules:\n - {name: a, key: h, when: {above: 1}, for: 2m, repeat: 1h}\n"
        " - {name: b, key: s, when: {any: [{stale: 3h}, {equals: x}]}}\n"
    )
    assert config.longest_duration == 3 * 3600


def test_load_config_treats_unset_variables_as_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.yaml"
    path.write_text("source: {api_key: '${UNSET_VAR_X}'}\nrules: []\n", encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_config(path, env={})
    assert "error: source.api_key: environment variable UNSET_VAR_X is not set" in str(info.value)
