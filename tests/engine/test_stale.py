"""`stale`: dead-sensor detection, time-driven."""

from .harness import rule, run

STALE = rule("key: soil\nwhen: {stale: 5m}\nresolve: true")


def test_fires_exactly_5m_after_last_set_and_resolves_on_next_set() -> None:
    steps = [(0, "soil", "35"), (60, "soil", "36"), (1000, "soil", "34")]
    assert run(STALE, steps, until=2000) == [
        (360, "firing", "soil", "36"),
        (1000, "resolved", "soil", "34"),
        (1300, "firing", "soil", "34"),
    ]


def test_key_rule_clock_starts_at_engine_start_even_if_never_seen() -> None:
    assert run(STALE, [], until=400) == [(300, "firing", "soil", None)]


def test_glob_rule_clock_starts_at_first_sighting() -> None:
    globbed = rule("keys: ['soil-*']\nwhen: {stale: 5m}")
    steps = [(100, "soil-a", "1"), (200, "soil-b", "1"), (250, "other", "1")]
    assert run(globbed, steps, until=600) == [
        (400, "firing", "soil-a", "1"),
        (500, "firing", "soil-b", "1"),
    ]


def test_remove_does_not_reset_the_clock() -> None:
    steps = [(0, "soil", "35"), (100, "soil", None)]
    assert run(STALE, steps, until=400) == [(300, "firing", "soil", None)]
