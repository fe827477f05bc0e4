"""The values the docs promise, tested as they are (not set to 0 for speed): reconnect backoff,
the stable-connection reset, a refused key's wait, delivery retries and what is retried, the
stop grace, the delivery log's size, the state schema version, the state-file metric."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from pxrules.backoff import Backoff
from pxrules.cli import cli
from pxrules.daemon import store as store_module
from pxrules.daemon.decision import DEFAULT_BACKOFF, next_step
from pxrules.daemon.health import ServiceStatus
from pxrules.daemon.notifiers.base import HttpTarget, Outcome, Result
from pxrules.daemon.options import RunOptions
from pxrules.daemon.store import AttemptRecord, Store
from pxrules.rules.schema import NotifierSpec
from pxrules.source import PxServSource
from pxrules.source.policy import Retry

from .test_metrics import exported


def source_policy(draw: float):  # type: ignore[no-untyped-def]
    """The reconnect policy a default PxServSource uses, its jitter pinned at ``draw``."""
    policy = PxServSource(api_key="k").policy
    return dataclasses.replace(
        policy, backoff=dataclasses.replace(policy.backoff, rng=lambda: draw)
    )


def test_reconnect_backoff_is_1s_doubling_to_60s() -> None:
    policy = source_policy(0.5)  # the middle of the jitter: the delay itself
    delays = [policy.after_failed_connect(n).delay for n in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_reconnect_jitter_is_25_percent_and_never_past_the_cap() -> None:
    assert source_policy(0.0).after_failed_connect(2).delay == pytest.approx(3.0)  # 4 − 25 %
    assert source_policy(0.999999).after_failed_connect(2).delay == pytest.approx(5.0, abs=1e-4)
    assert source_policy(0.999999).after_failed_connect(10).delay == 60.0


def test_a_connection_must_last_10s_to_reset_the_backoff() -> None:
    policy = source_policy(0.5)
    assert policy.after_connection(lasted=9.99, failures=3) == Retry(delay=16.0, failures=4)
    assert policy.after_connection(lasted=10.0, failures=3).failures == 0
    assert policy.after_connection(lasted=10.0, failures=3).delay == 1.0


def test_a_refused_key_is_retried_every_5_minutes() -> None:
    assert source_policy(0.5).after_refused(failures=7).delay == 300.0


def test_deliveries_retry_from_1s_doubling_to_5min_for_an_hour() -> None:
    assert (DEFAULT_BACKOFF.initial, DEFAULT_BACKOFF.maximum) == (1.0, 300.0)
    assert (DEFAULT_BACKOFF.factor, DEFAULT_BACKOFF.jitter) == (2.0, 0.2)
    assert NotifierSpec(webhook={"url": "http://127.0.0.1:9/x"}).retry_for == 3600.0
    backoff = dataclasses.replace(DEFAULT_BACKOFF, rng=lambda: 0.5)
    retry = Result(Outcome.RETRY, "HTTP 503")
    steps = [next_step(retry, attempts=n, created=0.0, now=0.0, retry_for=3600.0,
                       backoff=backoff).next_attempt for n in (1, 2, 3, 10, 11)]  # fmt: skip
    assert steps == [1.0, 2.0, 4.0, 300.0, 300.0]
    last = next_step(retry, attempts=30, created=0.0, now=3599.0, retry_for=3600.0,
                     backoff=backoff)  # fmt: skip
    assert (last.status, last.next_attempt) == ("pending", 3600.0)  # one last try at the deadline
    gave_up = next_step(retry, attempts=31, created=0.0, now=3600.0, retry_for=3600.0,
                        backoff=backoff)  # fmt: skip
    assert gave_up.status == "failed"


async def test_a_delivery_timeout_is_retried_not_given_up() -> None:
    target = HttpTarget()
    target.timeout = 10.0

    async def times_out() -> Result:
        raise TimeoutError

    result = await target.attempt(times_out())
    assert result.outcome is Outcome.RETRY and "timed out after 10s" in result.detail
    step = next_step(result, attempts=1, created=0.0, now=0.0, retry_for=3600.0,
                     backoff=Backoff(jitter=0))  # fmt: skip
    assert step.status == "pending"


def test_the_stop_grace_is_10s() -> None:
    assert RunOptions(rules_path=Path("r.yaml")).grace == 10.0
    help_text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    assert "--grace FLOAT RANGE" in help_text and "[default: 10.0; x>=0]" in help_text


def test_the_delivery_log_keeps_the_newest_10000_attempts(tmp_path: Path) -> None:
    assert store_module.DELIVERY_LOG_ROWS == 10_000
    store = Store.open(tmp_path / "s.db")
    try:
        store.record_alerts([("id", "hook", "hook", {})], [], 0.0)
        store.record_attempts([
            AttemptRecord("id", "hook", "retry", f"attempt {n}", "pending", n, 0.0, float(n))
            for n in range(10_050)
        ])  # fmt: skip
        store.prune(now=0.0)
        log = store.delivery_log()
        assert len(log) == 10_000
        assert log[0][3] == "attempt 50" and log[-1][3] == "attempt 10049"
    finally:
        store.close()


def test_a_state_file_of_an_unknown_schema_version_is_moved_aside_like_a_corrupt_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    store = Store.open(path)
    try:
        assert store._meta("schema") == str(store_module.SCHEMA_VERSION)
    finally:
        store.close()
    (aside,) = tmp_path.glob("s.db.corrupt-*[0-9]")
    kept = sqlite3.connect(aside)
    assert kept.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("99",)
    kept.close()


def test_the_state_file_metric_says_whether_it_can_be_written(tmp_path: Path) -> None:
    status = ServiceStatus()
    store = status.open_store(str(tmp_path / "s.db"), dry_run=False)
    try:
        assert exported(status)[("pxrules_state_file_ok", ())] == 1
        store.healthy = False  # as after a failed write (StoreError)
        assert exported(status)[("pxrules_state_file_ok", ())] == 0
    finally:
        status.close_store()
