"""The reconciler against real Redis and PostgreSQL, without workers: a queued message
deleted from Redis is lost and published again once (also with two reconcilers at the
same moment), a message without a row gets one (issue 23). The runs through real workers
are in ``tests/e2e/test_reconcile_e2e.py``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from tasks.registry import get_spec
from workers.producer import enqueue
from workers.reconcile import KINDS, reconcile_once
from workers.reconcile.broker_view import queue_keys
from workers.reconcile.report import LAST_KEY
from workers.recording import signals
from workers.recording.recorder import Recorder
from workers.settings import get_settings

AGENT = "quiz_generator"


@pytest.fixture
def record(sql_store: Any, redis_client: redis.Redis) -> Any:
    """Record everything on the stream now (a recorder's run_once until it is empty)."""
    rec = Recorder(get_settings().recorder_redis_url, sql_store)

    def drain() -> None:
        signals.flush()
        for _ in range(50):
            if rec.run_once() == 0 and rec._backlog() == 0:
                return

    return drain


def _enqueue() -> str:
    spec = get_spec(AGENT)
    return enqueue(AGENT, spec.example_task_type, spec.example)


def _messages(client: redis.Redis) -> list[bytes]:
    return [m for key in queue_keys(AGENT) for m in client.lrange(key, 0, -1)]


def _lose_messages(client: redis.Redis) -> None:
    client.delete(*queue_keys(AGENT))


def test_a_deleted_message_is_lost_and_published_again_once(
    sql_store: Any, redis_client: redis.Redis, record: Any
) -> None:
    task_id = _enqueue()
    record()
    assert reconcile_once(repair=False, grace_s=0, store=sql_store).counts == dict.fromkeys(
        KINDS, 0
    )
    _lose_messages(redis_client)
    found = reconcile_once(repair=False, grace_s=0, store=sql_store)
    assert found.counts["lost"] == 1 and found.repaired["lost"] == 0
    assert found.examples["lost"][0]["task_id"] == task_id
    assert _messages(redis_client) == []  # only reported
    # a grace longer than the row's age: not lost yet
    assert reconcile_once(repair=False, grace_s=3600, store=sql_store).counts["lost"] == 0

    fixed = reconcile_once(repair=True, grace_s=0, store=sql_store)
    assert fixed.counts["lost"] == 1 and fixed.repaired["lost"] == 1
    [message] = _messages(redis_client)
    assert task_id.encode() in message
    record()
    row = sql_store.get_execution(task_id)
    assert row["status"] == "queued"
    redelivered = [
        h for h in row["history"] if (h["detail"] or {}).get("error_type") == "Redelivered"
    ]
    assert len(redelivered) == 1 and "lost" in redelivered[0]["detail"]["error_message"]
    # the message is back: nothing to find, nothing published twice
    again = reconcile_once(repair=True, grace_s=0, store=sql_store)
    assert again.counts == dict.fromkeys(KINDS, 0)
    assert len(_messages(redis_client)) == 1
    assert redis_client.get(LAST_KEY)  # the last report, for /metrics and health


def test_two_reconcilers_at_once_publish_a_lost_task_once(
    sql_store: Any, redis_client: redis.Redis, record: Any
) -> None:
    ids = [_enqueue() for _ in range(5)]
    record()
    _lose_messages(redis_client)
    reports: list[Any] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        reports.append(reconcile_once(repair=True, grace_s=0))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 2
    assert sum(r.repaired["lost"] for r in reports) == 5
    messages = _messages(redis_client)
    assert sorted(i for i in ids if any(i.encode() in m for m in messages)) == sorted(ids)
    assert len(messages) == 5  # each once


def test_a_message_without_a_row_gets_one(
    sql_store: Any, redis_client: redis.Redis, record: Any
) -> None:
    task_id = _enqueue()
    signals.flush()
    redis_client.delete(get_settings().events_stream)  # its recording lost
    found = reconcile_once(repair=False, grace_s=0, store=sql_store)
    assert found.counts["unrecorded"] == 1
    assert found.examples["unrecorded"][0]["where"] == AGENT + ":5"  # priority normal
    assert sql_store.get_execution(task_id) is None
    fixed = reconcile_once(repair=True, grace_s=0, store=sql_store)
    assert fixed.repaired["unrecorded"] == 1
    record()
    row = sql_store.get_execution(task_id)
    assert row["status"] == "queued" and row["input_data"] == get_spec(AGENT).example
    assert reconcile_once(repair=False, grace_s=0, store=sql_store).counts == dict.fromkeys(
        KINDS, 0
    )


def test_nothing_is_lost_or_unrecorded_while_the_record_is_behind(
    sql_store: Any, redis_client: redis.Redis, record: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder behind (after a PostgreSQL outage, say) leaves a finished task reading
    queued and a new message without a row: neither is lost or unrecorded until the
    record has caught up with the moment the broker was looked at."""
    monkeypatch.setattr("workers.reconcile.caught_up.WAIT_S", 1.5)
    stream = get_settings().events_stream
    done = _enqueue()
    record()
    _lose_messages(redis_client)  # as if a worker took it and ran it
    fresh = _enqueue()
    signals.flush()  # its pending / queued wait on the stream: the record is behind
    behind = reconcile_once(repair=True, grace_s=0, store=sql_store)
    assert behind.counts == dict.fromkeys(KINDS, 0), behind.to_json()
    assert behind.deferred == {"lost": 1, "unrecorded": 1}
    assert behind.recording_behind_s is not None and behind.recording_behind_s >= 0
    assert "deferred: 1" in behind.actions["lost"]
    assert [m for m in _messages(redis_client) if done.encode() in m] == []  # not published
    assert sql_store.get_execution(fresh) is None  # no row made from the message

    record()  # caught up: the new task has its row, the old one is lost for real
    assert redis_client.xlen(stream) == 0
    caught_up = reconcile_once(repair=True, grace_s=0, store=sql_store)
    assert caught_up.deferred == {}
    assert caught_up.counts["unrecorded"] == 0 and caught_up.repaired["lost"] == 1
    assert caught_up.examples["lost"][0]["task_id"] == done


def test_an_unrecorded_message_waits_for_the_grace(
    sql_store: Any, redis_client: redis.Redis
) -> None:
    _enqueue()
    signals.flush()
    redis_client.delete(get_settings().events_stream)
    assert reconcile_once(repair=True, grace_s=3600, store=sql_store).counts["unrecorded"] == 0


def test_the_last_pass_shows_on_metrics_and_health(
    sql_store: Any, redis_client: redis.Redis, record: Any
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from workers.health.report import health_check
    from workers.serve.metrics import AgentqCollector

    def scrape() -> dict[tuple[str, str], float]:
        registry = CollectorRegistry()
        registry.register(AgentqCollector(get_settings(), sql_store))
        text = generate_latest(registry).decode()
        return {
            (s.name, s.labels.get("kind", "")): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name.startswith("agentq_reconcile")
        }

    assert scrape() == {}  # no pass yet
    _enqueue()
    record()
    _lose_messages(redis_client)
    reconcile_once(repair=False, grace_s=0, store=sql_store)
    samples = scrape()
    assert samples[("agentq_reconcile_discrepancies", "lost")] == 1
    assert samples[("agentq_reconcile_discrepancies", "unrecorded")] == 0
    assert samples[("agentq_reconcile_repaired", "lost")] == 0
    report = health_check(get_settings(), store=sql_store)
    assert report["components"]["reconcile"]["lost_awaiting_repair"] == 1
    assert any("1 lost tasks await repair" in r for r in report["reasons"])

    reconcile_once(repair=True, grace_s=0, store=sql_store)
    samples = scrape()
    assert samples[("agentq_reconcile_repaired", "lost")] == 1
    report = health_check(get_settings(), store=sql_store)
    assert report["components"]["reconcile"]["lost_awaiting_repair"] == 0
    assert not any("await repair" in r for r in report["reasons"])


def test_the_command_reports_repairs_and_says_so_in_its_exit_code(
    sql_store: Any, redis_client: redis.Redis, record: Any
) -> None:
    import json

    from tests.support.cli import agentq

    _enqueue()
    record()
    res = agentq("reconcile", "--json", "--grace", "0")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"] == dict.fromkeys(KINDS, 0)
    _lose_messages(redis_client)
    res = agentq("reconcile", "--grace", "0")
    assert res.returncode == 5, res.stderr  # a difference left
    assert "lost" in res.stdout and "reported only" in res.stdout
    res = agentq("reconcile", "--json", "--repair", "--grace", "0")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["counts"]["lost"], report["repaired"]["lost"]) == (1, 1)
    res = agentq("reconcile", "--grace", "-1")
    assert res.returncode == 2 and "--grace" in res.stderr


def test_beats_pass_repairs_only_when_told(
    sql_store: Any, redis_client: redis.Redis, record: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.beat.reconcile import reconcile
    from workers.settings import get_settings as cached

    _enqueue()
    record()
    _lose_messages(redis_client)
    monkeypatch.setenv("AGENTQ_RECONCILE_GRACE", "0")
    cached.cache_clear()
    try:
        assert reconcile() == {
            "counts": {**dict.fromkeys(KINDS, 0), "lost": 1},
            "repaired": dict.fromkeys(KINDS, 0),
        }
        assert _messages(redis_client) == []
        monkeypatch.setenv("AGENTQ_RECONCILE_REPAIR", "true")
        cached.cache_clear()
        assert reconcile()["repaired"]["lost"] == 1
        assert len(_messages(redis_client)) == 1
    finally:
        monkeypatch.undo()
        cached.cache_clear()
