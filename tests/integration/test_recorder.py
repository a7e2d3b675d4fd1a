"""The recorder on a real Redis stream, writing to the in-memory store (fast) and,
once, to PostgreSQL: batches, replays, dead letters, outages, spool, claiming."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from persistence import wire
from persistence.errors import DatabaseUnavailable
from persistence.lifecycle import Transition
from persistence.store import RecordResult
from tests.support.memory_store import InMemoryStore
from tests.support.workers import wait_for
from workers.recording.recorder import GROUP, Recorder
from workers.recording.sink import EventSink

STREAM = "agentq:events"


def _evs(task_id: str, worker: str = "w@h") -> list[dict[str, Any]]:
    now = time.time()
    return [
        wire.transition(
            uuid.uuid4().hex,
            task_id,
            "pending",
            0,
            now,
            "quiz_generator",
            "quiz",
            request={"input_data": {"x": 1}},
        ),
        wire.transition(
            uuid.uuid4().hex, task_id, "queued", 0, now + 0.001, "quiz_generator", "quiz"
        ),
        wire.transition(
            uuid.uuid4().hex,
            task_id,
            "running",
            0,
            now + 0.002,
            "quiz_generator",
            "quiz",
            worker=worker,
        ),
        wire.transition(
            uuid.uuid4().hex,
            task_id,
            "completed",
            0,
            now + 0.003,
            "quiz_generator",
            "quiz",
            worker=worker,
            result={"output_data": {"ok": 1}, "quality_score": 0.9},
        ),
    ]


@pytest.fixture
def url(clean: str, redis_client: redis.Redis) -> str:
    kw = redis_client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


def _recorder(url: str, store: Any, **kw: Any) -> Recorder:
    return Recorder(
        url, store, stream=STREAM, consumer=kw.pop("consumer", "test"), block_ms=10, **kw
    )


def _run_until(rec: Recorder, done: Any) -> None:
    """Run the recorder's own thread until ``done()`` (or 10 s), then stop it."""
    rec.start()
    try:
        wait_for(done, 10, interval=0.02, what="the recorder")
    finally:
        rec.stop(drain_seconds=1)


def _drain(rec: Recorder, rounds: int = 20) -> None:
    for _ in range(rounds):
        if rec.run_once() == 0 and rec._backlog() == 0:
            return


def test_records_batches_and_acknowledges(
    url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    sink = EventSink(url, STREAM, tmp_path)
    for i in range(50):
        sink.emit(_evs(f"task-{i}"))
    store = InMemoryStore()
    rec = _recorder(url, store)
    _drain(rec)
    assert len(store.executions) == 50
    assert all(e.status.value == "completed" for e in store.executions.values())
    assert redis_client.xlen(STREAM) == 0  # acknowledged entries are deleted
    assert rec.stats.new_events == 200


def test_a_backlog_is_read_without_the_batch_window(
    url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # After a full read the next batch is there already: waiting would only cap the rate.
    sink = EventSink(url, STREAM, tmp_path)
    for i in range(25):
        sink.emit(_evs(f"task-{i}"))
    store = InMemoryStore()
    rec = _recorder(url, store, batch_size=10, batch_window_ms=2_000)
    start = time.monotonic()
    assert [rec.run_once() for _ in range(3)] == [10, 10, 5]
    assert time.monotonic() - start < 1.5  # two windows would be 4 s
    assert len(store.executions) == 25
    sink.emit(_evs("late"))
    start = time.monotonic()
    assert rec.run_once() == 1  # the last read was short: the window applies again
    assert time.monotonic() - start >= 1.8


def test_a_backlog_is_read_in_larger_batches(
    url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # After a full read the stream holds a backlog: the next reads take backlog_batch_size
    # entries (a task's phases then share a batch more often), until one comes back short.
    sink = EventSink(url, STREAM, tmp_path)
    for i in range(40):
        sink.emit(_evs(f"task-{i}"))
    store = InMemoryStore()
    rec = _recorder(url, store, batch_size=10, backlog_batch_size=25)
    assert [rec.run_once() for _ in range(3)] == [10, 25, 5]
    for i in range(40, 55):
        sink.emit(_evs(f"task-{i}"))
    assert [rec.run_once() for _ in range(2)] == [10, 5]  # the short read ended the backlog
    assert len(store.executions) == 55 and rec.stats.new_events == 220


def test_bad_entries_go_to_the_dead_letter_stream(url: str, redis_client: redis.Redis) -> None:
    redis_client.xadd(STREAM, {"e": b"{not json"})
    redis_client.xadd(STREAM, {"e": wire.encode([{"k": "t", "id": "zz"}])})
    redis_client.xadd(STREAM, {"e": wire.encode(_evs("good"))})
    store = InMemoryStore()
    rec = _recorder(url, store)
    _drain(rec)
    assert "good" in store.executions
    dead = redis_client.xrange(STREAM + ":dead")
    assert len(dead) == 2
    reasons = " | ".join(fields[b"reason"].decode() for _, fields in dead)
    assert "not JSON" in reasons and "badly formed hexadecimal UUID" in reasons


def test_rejected_entry_is_isolated(url: str, redis_client: redis.Redis, sql_store: Any) -> None:
    bad = _evs("bad")
    bad[-1]["rs"]["quality_score"] = 7.0  # violates the integration design's CHECK
    redis_client.xadd(STREAM, {"e": wire.encode(bad)})
    redis_client.xadd(STREAM, {"e": wire.encode(_evs("fine"))})
    rec = _recorder(url, sql_store)
    _drain(rec)
    assert sql_store.get_execution("fine")["status"] == "completed"
    # The entry is the unit: all of it goes to the dead letters, as it was.
    assert sql_store.get_execution("bad") is None
    [(_, fields)] = redis_client.xrange(STREAM + ":dead")
    assert b"quality_score_check" in fields[b"reason"]
    assert fields[b"e"] == wire.encode(bad)


class FlakyStore(InMemoryStore):
    """Unavailable for the first ``failures`` calls, like a database that restarts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def record(self, transitions: Sequence[Transition]) -> RecordResult:
        if self.failures > 0:
            self.failures -= 1
            raise DatabaseUnavailable("connection refused")
        return super().record(transitions)


def test_database_outage_keeps_entries_until_recorded(url: str, redis_client: redis.Redis) -> None:
    redis_client.xadd(STREAM, {"e": wire.encode(_evs("t1"))})
    store = FlakyStore(failures=3)
    rec = _recorder(url, store, max_backoff=0.05)
    _run_until(rec, lambda: "t1" in store.executions)
    assert store.executions["t1"].status.value == "completed"
    assert rec.stats.db_errors == 3
    assert redis_client.xlen(STREAM) == 0


def test_unreachable_redis_spools_and_the_recorder_replays(url: str, tmp_path: Path) -> None:
    dead_sink = EventSink("redis://127.0.0.1:1/0", STREAM, tmp_path)
    dead_sink.emit(_evs("spooled"))
    assert dead_sink.spooled == 1 and list(tmp_path.glob("*.jsonl"))
    store = InMemoryStore()
    rec = _recorder(url, store, spool_dir=tmp_path)
    _drain(rec)
    assert store.executions["spooled"].status.value == "completed"
    assert not list(tmp_path.iterdir())


def test_entries_of_a_dead_recorder_are_claimed(url: str, redis_client: redis.Redis) -> None:
    redis_client.xadd(STREAM, {"e": wire.encode(_evs("orphan"))})
    redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    # A recorder reads the entry and dies before recording it.
    redis_client.xreadgroup(GROUP, "dead-one", {STREAM: ">"}, count=10)
    store = InMemoryStore()
    rec = _recorder(url, store, consumer="alive", claim_idle_ms=100)
    time.sleep(0.15)
    _drain(rec)
    assert store.executions["orphan"].status.value == "completed"


def test_recorder_recreates_a_lost_consumer_group(url: str, redis_client: redis.Redis) -> None:
    store = InMemoryStore()
    rec = _recorder(url, store, max_backoff=0.05)
    rec.run_once()
    redis_client.delete(STREAM)  # Redis restarted without persistence
    redis_client.xadd(STREAM, {"e": wire.encode(_evs("after-restart"))})
    _run_until(rec, lambda: "after-restart" in store.executions)
    assert store.executions["after-restart"].status.value == "completed"
