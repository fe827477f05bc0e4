"""`repeat`: re-notify at exact multiples while firing."""

from .harness import rule, run

REPEAT = rule("key: humidity\nwhen: {above: 70}\nrepeat: 1h\nresolve: true")


def test_repeats_at_exact_multiples_until_resolved() -> None:
    steps = [(100, "humidity", "71"), (3700, "humidity", "75"), (10900, "humidity", "60")]
    assert run(REPEAT, steps) == [
        (100, "firing", "humidity", "71"),
        (3700, "firing", "humidity", "75"),
        (7300, "firing", "humidity", "75"),
        (10900, "resolved", "humidity", "60"),
    ]


def test_repeat_counts_from_the_for_deadline() -> None:
    delayed = rule("key: humidity\nwhen: {above: 70}\nfor: 1m\nrepeat: 10m")
    assert run(delayed, [(0, "humidity", "71")], until=1300) == [
        (60, "firing", "humidity", "71"),
        (660, "firing", "humidity", "71"),
        (1260, "firing", "humidity", "71"),
    ]
