"""Workers that stopped without a warm shutdown (real Redis): the report they left
behind makes ``agentq_worker_lost`` (read from Redis alone) until the reaper forgets it.

The end to end (a killed worker while PostgreSQL is down raises AgentqWorkerDown in a
real Prometheus) is the soak's ``--alerts`` run; the rule itself is unit-tested by
promtool (``deploy/prometheus/tests/workers_test.yml``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

import orjson
import pytest
import redis

from workers.beat.housekeeping import _forget_old_progress_reports
from workers.health.lost_workers import FORGET_AFTER_SECONDS, forget_old_reports, lost_workers
from workers.health.progress import PROGRESS_KEY, read_reports
from workers.serve.fleet_metrics import lost_worker_metrics
from workers.settings import get_settings


@pytest.fixture
def reports(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    redis_client.delete(PROGRESS_KEY)
    yield redis_client
    redis_client.delete(PROGRESS_KEY)


def _report(r: redis.Redis, name: str, at: object) -> None:
    body = {"at": at, "held": 0, "active": 0, "progress_at": at, "concurrency": 2}
    r.hset(PROGRESS_KEY, name, orjson.dumps(body))


def _lost(metrics: list) -> dict[str, float]:
    (family,) = metrics
    assert family.name == "agentq_worker_lost"
    return {s.labels["worker"]: s.value for s in family.samples}


def test_only_reports_between_the_stale_period_and_forgetting_are_lost(
    reports: redis.Redis,
) -> None:
    now = time.time()
    _report(reports, "live@h", now - 2)
    _report(reports, "ahead@h", now + 5)  # a host whose clock runs ahead
    _report(reports, "killed@h", now - 90)
    _report(reports, "long-gone@h", now - FORGET_AFTER_SECONDS - 60)
    _report(reports, "no-time@h", "yesterday")
    url = get_settings().recorder_redis_url
    assert _lost(lost_worker_metrics(url, 60.0)) == {"killed@h": 1.0}
    # a longer stale period: not yet lost
    assert _lost(lost_worker_metrics(url, 120.0)) == {}
    # the worker restarted under its name reports again: no longer lost
    _report(reports, "killed@h", time.time())
    assert _lost(lost_worker_metrics(url, 60.0)) == {}


def test_the_reaper_forgets_old_reports_and_keeps_the_rest(reports: redis.Redis) -> None:
    now = time.time()
    _report(reports, "live@h", now)
    _report(reports, "killed@h", now - 90)
    _report(reports, "long-gone@h", now - FORGET_AFTER_SECONDS - 60)
    _report(reports, "no-time@h", None)
    assert _forget_old_progress_reports(get_settings()) == 2
    assert set(read_reports(reports)) == {"live@h", "killed@h"}
    assert forget_old_reports(reports, time.time()) == 0


def test_forgetting_with_redis_away_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # the one setting it reads, pointing at a port nothing listens on
    settings = SimpleNamespace(recorder_redis_url="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="workers.beat.housekeeping"):
        assert _forget_old_progress_reports(settings) == 0
    assert "old progress reports not forgotten" in caplog.text


def test_lost_workers_is_pure_arithmetic() -> None:
    reports = {"a": {"at": 100.0}, "b": {"at": 30.0}, "c": {"at": "x"}, "d": {}}
    assert lost_workers(reports, now=200.0, lost_after_s=60.0, forget_after_s=150.0) == {"a": 100.0}
