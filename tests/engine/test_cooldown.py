"""`cooldown`: no new firing notification within the cooldown of the last one."""

from .harness import rule, run

COOL = rule("key: humidity\nwhen: {above: 70}\ncooldown: 10m\nresolve: true")


def test_suppresses_refire_after_2m_allows_after_11m() -> None:
    steps = [
        (0, "humidity", "71"),  # fires, notified
        (60, "humidity", "60"),  # resolves, notified
        (120, "humidity", "72"),  # fires again 2 m later: suppressed
        (180, "humidity", "60"),  # resolves: its firing was not notified, so silent
        (660, "humidity", "73"),  # 11 m after the first notification: allowed
    ]
    assert run(COOL, steps) == [
        (0, "firing", "humidity", "71"),
        (60, "resolved", "humidity", "60"),
        (660, "firing", "humidity", "73"),
    ]


def test_cooldown_is_per_key() -> None:
    globbed = rule("keys: ['h-*']\nwhen: {above: 70}\ncooldown: 10m")
    steps = [(0, "h-1", "71"), (10, "h-2", "71"), (20, "h-1", "1"), (30, "h-1", "90")]
    assert run(globbed, steps) == [(0, "firing", "h-1", "71"), (10, "firing", "h-2", "71")]
