"""`check` on inhibition, time windows and flapping: every mistake at its line with a hint."""

from __future__ import annotations

from pxrules.rules import load_text


def problems(text: str) -> list[str]:
    result = load_text(text, "r.yaml", env={})
    return [f"{p.line}:{p.column}: {p.location}: {p.message}" for p in result.problems]


def test_a_valid_file_with_everything_loads() -> None:
    result = load_text(
        """
time_windows:
  night: [{weekdays: [mon-fri, sun], times: ["22:00-06:00"], timezone: Europe/Istanbul}]
  holidays: [{dates: ["2025-12-31", "2025-12-24:2025-12-26"]}]
inhibit:
  - source: {rule: gateway-offline, key: "gateway/{gw}/status"}
    target: {rule: "*-stale", key: "gateway/{gw}/*"}
    equal: [gw, project]
defaults: {mute_during: [holidays]}
rules:
  - {name: gateway-offline, keys: ["gateway/*/status"], when: {equals: offline}}
  - {name: fridge, key: f, when: {above: 8}, only_during: [night],
     flapping: {window: 10m, max_changes: 6}}
""",
        "r.yaml",
        env={},
    )
    assert result.ok, [str(p) for p in result.problems]
    assert result.config is not None
    assert set(result.config.time_windows) == {"night", "holidays"}
    assert result.config.inhibit[0].equal == ("gw", "project")
    fridge = result.config.rules[1]
    assert fridge.only_during == ("night",) and fridge.mute_during == ("holidays",)
    assert fridge.flapping is not None and fridge.flapping.window == 600.0


def test_every_mistake_is_reported_where_it_is() -> None:
    found = problems("""time_windows:
  night: [{weekdays: [mon-fry], times: ["22:00-6"], timezone: Europe/Istambul}]
inhibit:
  - {source: {rule: a, colour: red}, target: {rule: b}}
  - {source: {key: "gw/{gw}/x"}, target: {key: "gw/{g}/y"}, equal: [gw]}
rules:
  - {name: a, key: k, when: {above: 1}, mute_during: [nite], flapping: {window: 0, max_changes: 1}}
  - {name: b, key: k, when: {changed: true}, flapping: {window: 5m, max_changes: 3}}
""")
    text = "\n".join(found)
    assert "2:22: time_windows.night[0].weekdays: weekday 'mon-fry'" in text
    assert "times '22:00-6': use HH:MM-HH:MM" in text
    assert "unknown time zone 'Europe/Istambul'" in text
    assert "inhibit[0].source" in text and "'colour': a matcher names one of" in text
    assert "5:69: inhibit[1].equal[0]: 'gw' is neither a label nor a {capture} of both" in text
    assert (
        "7:55: rules[0].mute_during[0]: unknown time window 'nite' (did you mean 'night'?)" in text
    )
    assert "7:81: rules[0].flapping.window: duration must be positive" in text
    assert "7:97: rules[0].flapping.max_changes" in text
    assert "8:46: rules[1].flapping: 'flapping' does not apply to an event rule" in text


def test_notifier_grouping_and_windows_are_checked() -> None:
    found = "\n".join(
        problems("""time_windows:
  night: [{times: ["22:00-06:00"]}]
notifiers:
  a: {webhook: {url: "http://127.0.0.1:9/a"}, group: {by: [rulez]}}
  b: {webhook: {url: "http://127.0.0.1:9/b"}, group: {by: ["gateway/*"]}}
  c: {pxserv: {set: {fan: "1"}}, group: {by: [rule]}}
  d: {webhook: {url: "http://127.0.0.1:9/d"}, mute_during: [nigth]}
rules:
  - {name: r, key: k, when: {above: 1}, notify: [a, b, c, d]}
""")
    )
    assert "4:59: notifiers.a.group.by: 'rulez': group by project, rule, key, severity" in found
    assert "5:59: notifiers.b.group.by: 'gateway/*': group by project, rule, key" in found
    assert "6:34: notifiers.c.group: a pxserv notifier cannot group" in found
    assert "7:61: notifiers.d.mute_during[0]: unknown time window 'nigth' (did you mean" in found
