"""Fault injection on real workers: a pool child killed, a whole worker killed, and
PostgreSQL down for 30 s while tasks run. Nothing a hook accepted may be lost, and
every execution must end in its right final state with a history that tells the story.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg
import pytest
import redis

from persistence import wire
from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tests.e2e.conftest import (
    in_lifecycle_order,
    instance,
    poll,
    private_events_stream,
    send_content,
    send_test_task,
    steps,
    wait_terminal,
)
from tests.support.servers import PostgresServer
from tests.support.workers import WorkerProcess, wait_for
from workers.producer import get_execution
from workers.recording.recorder import GROUP

pytestmark = pytest.mark.slow

STREAM = "agentq:events"


# --- helpers --------------------------------------------------------------------------
def pid_of(r: redis.Redis, key: str, index: int = 0, timeout: float = 20.0) -> int:
    """The pid that ran the slow task with ``key`` (its ``index``-th run)."""
    raw = poll(lambda: r.lindex(f"agentq:test:pid:{key}", index), timeout, f"run {key}", 0.02)
    return int(cast(bytes, raw))


def dump_on_failure(*workers: WorkerProcess) -> Callable[[], None]:
    def dump() -> None:
        for w in workers:
            print(f"----- {w.name} log -----\n{w.output()[-6000:]}")

    return dump


# --- a pool child dies mid-task ---------------------------------------------------------
def test_pool_child_killed_mid_task_is_redelivered_and_completes(
    clean: str, redis_client: redis.Redis
) -> None:
    w = WorkerProcess("childkill", concurrency=2).start()
    try:
        key = uuid.uuid4().hex
        task_id = send_test_task("slow", {"seconds": 3, "key": key})
        first = pid_of(redis_client, key)
        assert first in w.children()
        os.kill(first, signal.SIGKILL)
        # acks_late + reject_on_worker_lost: requeued at once, run again (same id, retries 0).
        second = pid_of(redis_client, key, index=1)
        assert second != first
        rec = wait_terminal(task_id, 5)
    except BaseException:
        dump_on_failure(w)()
        raise
    finally:
        w.stop()

    assert rec["status"] == "completed", rec
    assert rec["attempts"] == 2
    assert rec["retry_count"] == 0
    assert rec["worker"] == w.hostname
    assert rec["output_data"] == {"slept": 3}
    assert rec["error_message"] is None
    assert steps(rec) == [
        ("pending", 0),
        ("queued", 0),
        ("running", 0),
        ("running", 0),
        ("completed", 0),
    ]
    run1, run2 = in_lifecycle_order(rec["history"])[2:4]
    assert run1["worker"] == run2["worker"] == w.hostname
    assert run1["occurred_at"] < run2["occurred_at"]
    # started_at is the first run; the run time is the second run's own.
    assert rec["started_at"] == run1["occurred_at"]
    assert rec["execution_time_seconds"] >= 3.0
    assert (rec["completed_at"] - run2["occurred_at"]).total_seconds() >= 3.0
    inst = instance(clean, f"content_generator@{w.hostname}")
    assert inst is not None
    assert inst["total_tasks_completed"] == 1 and (inst["total_tasks_failed"] or 0) == 0


# --- the whole worker dies mid-task -----------------------------------------------------
def test_worker_killed_mid_task_message_returns_to_another_worker(
    clean: str, redis_client: redis.Redis
) -> None:
    env = {"AGENTQ_VISIBILITY_TIMEOUT": "6"}
    a = WorkerProcess("victim", env=env).start()
    b = WorkerProcess("rescuer", env=env)
    try:
        key = uuid.uuid4().hex
        task_id = send_test_task("slow", {"seconds": 2, "key": key})
        pid_of(redis_client, key)
        a.kill()  # SIGKILL main process and children: no ack, no shutdown, no goodbye

        # Leave work in A's recorder as a crash does: entries it read but never
        # acknowledged (whatever is in the stream now, plus one of our own, so there is
        # always at least one).
        orphan = str(uuid.uuid4())
        now = time.time()
        redis_client.xadd(
            STREAM,
            {
                "e": wire.encode(
                    [
                        wire.transition(
                            uuid.uuid4().hex,
                            orphan,
                            "pending",
                            0,
                            now,
                            "content_generator",
                            "noop",
                            request={"input_data": {"orphan": True}},
                        ),
                        wire.transition(
                            uuid.uuid4().hex,
                            orphan,
                            "queued",
                            0,
                            now + 0.001,
                            "content_generator",
                            "noop",
                        ),
                    ]
                )
            },
        )
        with contextlib.suppress(redis.ResponseError):  # A's recorder created it
            redis_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        redis_client.xreadgroup(GROUP, a.hostname, {STREAM: ">"}, count=10_000)
        assert redis_client.xpending_range(STREAM, GROUP, "-", "+", 10_000, consumername=a.hostname)

        # The unacked message comes back once it is older than the visibility timeout.
        # kombu sweeps unacked messages when a worker starts and then only every
        # unacked_restore_interval x unacked_restore_throttle (10 x 10 s by default), so B
        # is started once the message is due.
        def due() -> bool:
            scores = cast(
                list[tuple[bytes, float]],
                redis_client.zrange("unacked_index", 0, -1, withscores=True),
            )
            return bool(scores) and all(time.time() - s > 6.5 for _, s in scores)

        wait_for(due, 20, what="the unacked message to pass the visibility timeout")
        b.start()
        rec = wait_terminal(task_id, 5, timeout=40)
        # B's recorder claimed what A's recorder had left (claim idle is 2 s in tests).
        wait_for(
            lambda: (
                not redis_client.xpending_range(
                    STREAM, GROUP, "-", "+", 10_000, consumername=a.hostname
                )
            ),
            20,
            what="B's recorder to claim A's unacknowledged entries",
        )
        orphan_rec = poll(lambda: get_execution(orphan), 10, "the orphaned entry")
    except BaseException:
        dump_on_failure(a, b)()
        raise
    finally:
        a.kill()
        b.stop()

    assert rec["status"] == "completed", rec
    assert rec["worker"] == b.hostname
    assert rec["attempts"] == 2
    assert rec["retry_count"] == 0
    assert steps(rec) == [
        ("pending", 0),
        ("queued", 0),
        ("running", 0),
        ("running", 0),
        ("completed", 0),
    ]
    ordered = in_lifecycle_order(rec["history"])
    assert [h["worker"] for h in ordered] == [None, None, a.hostname, b.hostname, b.hostname]
    gap = (ordered[3]["occurred_at"] - ordered[2]["occurred_at"]).total_seconds()
    assert gap >= 6.0  # not before the visibility timeout
    assert orphan_rec["status"] == "queued"
    assert orphan_rec["input_data"] == {"orphan": True}
    assert steps(orphan_rec) == [("pending", 0), ("queued", 0)]
    assert redis_client.xlen(STREAM + ":dead") == 0
    inst = instance(clean, f"content_generator@{b.hostname}")
    assert inst is not None and inst["total_tasks_completed"] == 1


# --- PostgreSQL down for 30 s ---------------------------------------------------------
@pytest.fixture
def throwaway_pg() -> Iterator[tuple[PostgresServer, str]]:
    """A migrated PostgreSQL server of our own, which the test may stop and start."""
    srv = PostgresServer()
    try:
        srv.start()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{srv.port}/agentq_outage"
        MigrationService(url).run_migrations()
        yield srv, url
    finally:
        srv.destroy()


@pytest.fixture
def private_stream(
    clean: str, monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[str]:
    """This process (and the worker given the same env) records into a stream of its own,
    so no recorder of the session database can pick up the outage test's events."""
    with private_events_stream(monkeypatch, redis_client, "outage") as stream:
        yield stream


def _outcome_logged(log: str, task_id: str) -> bool:
    return any(
        task_id in line and (" succeeded in " in line or " raised unexpected" in line)
        for line in log.splitlines()
    )


def _terminal_in_stream(r: redis.Redis, stream: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for _, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], r.xrange(stream)):
        for ev in wire.decode(fields[b"e"]):
            if ev.get("k") == wire.KIND_TRANSITION:
                found.setdefault(ev["t"], set()).add(ev["s"])
    return found


def assert_outage_record(kind: str, rec: dict[str, Any], hostname: str) -> None:
    """The final row and history of one task of the outage test, by its kind."""
    s = steps(rec)
    assert rec["worker"] == hostname, rec
    if kind in ("noop", "content"):
        assert rec["status"] == "completed", rec
        assert s == [("pending", 0), ("queued", 0), ("running", 0), ("completed", 0)]
        assert 0.0 <= rec["quality_score"] <= 1.0
        assert rec["attempts"] == 1
    elif kind == "boom":
        assert rec["status"] == "failed", rec
        assert rec["error_type"] == "RuntimeError" and "boom" in rec["error_message"]
        assert s == [("pending", 0), ("queued", 0), ("running", 0), ("failed", 0)]
    else:
        assert rec["status"] == "completed", rec
        assert rec["retry_count"] == 1 and rec["attempts"] == 2
        assert rec["output_data"] == {"attempts": 2}
        assert sorted(s) == sorted(
            [
                ("pending", 0),
                ("queued", 0),
                ("running", 0),
                ("retrying", 0),
                ("queued", 1),
                ("running", 1),
                ("completed", 1),
            ]
        )
        assert s[-1] == ("completed", 1)
    times = [h["occurred_at"] for h in rec["history"]]
    assert times == sorted(times)


def test_database_outage_loses_nothing(
    throwaway_pg: tuple[PostgresServer, str],
    private_stream: str,
    redis_client: redis.Redis,
) -> None:
    srv, url = throwaway_pg
    plain_url = url.replace("+psycopg", "")
    store = SQLStore(url, pool_size=1)
    w = WorkerProcess(
        "outage",
        concurrency=2,
        env={"DATABASE_URL": plain_url, "AGENTQ_EVENTS_STREAM": private_stream},
    )
    kinds: dict[str, str] = {}

    def submit(batch: int) -> list[str]:
        ids = []
        for i in range(batch):
            pick = i % 4
            if pick == 0:
                tid, kind = send_test_task("noop"), "noop"
            elif pick == 1:
                tid, kind = send_test_task("boom"), "boom"
            elif pick == 2:
                tid = send_test_task("flaky", {"fail_times": 1, "countdown": 0.5})
                kind = "flaky"
            else:
                tid, kind = send_content(), "content"
            kinds[tid] = kind
            ids.append(tid)
        return ids

    try:
        w.start()
        agent_id = f"content_generator@{w.hostname}"
        wait_for(lambda: instance(url, agent_id), 20, what="the worker's instances")

        before = submit(16)
        srv.stop("fast")
        down_at = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(plain_url, connect_timeout=2).close()

        # With the database down, tasks published now still run, and their whole
        # lifecycle waits in the stream (the recorder cannot commit, so acks nothing).
        during = submit(8)
        wait_for(
            lambda: all(_outcome_logged(w.output(), t) for t in before + during),
            25,
            what="every task to run while the database is down",
        )
        stream_now = _terminal_in_stream(redis_client, private_stream)
        for tid in during:
            expected = {"pending", "queued", "running"}
            expected |= {"failed"} if kinds[tid] == "boom" else {"completed"}
            if kinds[tid] == "flaky":
                expected |= {"retrying"}
            assert expected <= stream_now.get(tid, set()), (tid, kinds[tid], stream_now.get(tid))
        assert w.proc is not None and w.proc.poll() is None
        assert "recorder paused" in w.output()

        time.sleep(max(0.0, 30.0 - (time.monotonic() - down_at)))
        srv.start()

        results = {}
        for tid in before + during:
            n = {"noop": 4, "content": 4, "boom": 4, "flaky": 7}[kinds[tid]]
            results[tid] = wait_terminal(tid, n, timeout=60, read=store.get_execution)
        wait_for(lambda: redis_client.xlen(private_stream) == 0, 20, what="the stream to drain")

        def idle() -> dict[str, Any] | None:
            i = instance(url, agent_id)
            return i if i is not None and i["status"] == "idle" else None

        inst = poll(idle, 10, "the instance idle again")
    except BaseException:
        dump_on_failure(w)()
        raise
    finally:
        w.stop()
        store.close()

    for tid, rec in results.items():
        assert_outage_record(kinds[tid], rec, w.hostname)

    # Each terminal transition was counted exactly once, through the outage and replay.
    outcomes = Counter(rec["status"] for rec in results.values())
    assert inst["total_tasks_completed"] == outcomes["completed"]
    assert inst["total_tasks_failed"] == outcomes["failed"]
    assert inst["current_task_id"] is None
    assert redis_client.xlen(private_stream + ":dead") == 0
