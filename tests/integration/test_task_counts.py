"""The fleet's counters and histograms, counted by the recorder's transaction
(persistence/sql/0010_task_counts.sql): each new transition once, a replay nothing, the
queue wait once whichever half of the pair is recorded first, and two recorders at once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore
from persistence.task_counts import TaskCounts, task_counts

T0 = datetime(2026, 12, 1, tzinfo=UTC)
QUIZ, CONTENT = "quiz_generator", "content_generator"


def _t(task_id: str, status: str, seconds: float, agent: str = QUIZ, **kw: Any) -> Transition:
    return Transition(
        uuid.uuid4(),
        task_id,
        TaskStatus(status),
        kw.pop("attempt", 0),
        T0 + timedelta(seconds=seconds),
        agent,
        "t",
        **kw,
    )


def _run(status: str, runtime: float, wait: float, agent: str = QUIZ) -> list[Transition]:
    """One execution: published at 0, started after ``wait``, ended ``runtime`` later."""
    tid = str(uuid.uuid4())
    result = {"execution_time_seconds": runtime}
    return [
        _t(tid, "pending", 0, agent, request={"input_data": {}}),
        _t(tid, "queued", 0, agent),
        _t(tid, "running", wait, agent, worker="w1"),
        _t(tid, status, wait + runtime, agent, worker="w1", result=result),
    ]


def _buckets(counts: TaskCounts, metric: str, agent: str) -> dict[float, int]:
    return {le: n for le, n in counts.histogram(metric, agent).cumulative()}


def test_each_transition_counted_once_and_a_replay_counts_nothing(sql_store: SQLStore) -> None:
    runs = [_run("completed", 0.02, 0.3), _run("completed", 7.0, 0.001), _run("failed", 700, 2)]
    runs.append(_run("completed", 1.0, 0.5, CONTENT))
    events = [e for r in runs for e in r]
    sql_store.record(events)
    sql_store.record(events)  # a redelivered or claimed entry
    sql_store.record(list(reversed(events[:5])))
    c = task_counts(sql_store)
    assert c.tasks == {
        (QUIZ, "queued"): 3,
        (QUIZ, "started"): 3,
        (QUIZ, "succeeded"): 2,
        (QUIZ, "failed"): 1,
        (CONTENT, "queued"): 1,
        (CONTENT, "started"): 1,
        (CONTENT, "succeeded"): 1,
    }
    runtime = _buckets(c, "runtime", QUIZ)
    assert runtime[0.01] == 0 and runtime[0.025] == 1 and runtime[5.0] == 1
    assert runtime[10.0] == 2 and runtime[600.0] == 2 and runtime[float("inf")] == 3
    assert abs(c.histogram("runtime", QUIZ).total - 707.02) < 1e-6
    wait = _buckets(c, "queue_wait", QUIZ)
    assert wait[0.01] == 1 and wait[0.25] == 1 and wait[0.5] == 2 and wait[2.5] == 3
    assert wait[float("inf")] == 3
    assert c.histogram("queue_wait", CONTENT).count == 1


def test_queue_wait_observed_once_whichever_half_comes_first(sql_store: SQLStore) -> None:
    a, b = _run("completed", 1, 3), _run("completed", 1, 4)
    # a: running (and its end) before queued; b: queued first, running in a later batch.
    sql_store.record([a[2], a[3]])
    sql_store.record([b[0], b[1]])
    sql_store.record([a[0], a[1], b[2]])
    sql_store.record([b[3], a[1], b[2]])
    h = task_counts(sql_store).histogram("queue_wait", QUIZ)
    assert (h.count, h.total) == (2, 7.0)


def test_retries_count_each_attempt(sql_store: SQLStore) -> None:
    tid = str(uuid.uuid4())
    err = {"error_message": "x", "error_type": "E", "execution_time_seconds": 0.1}
    sql_store.record(
        [
            _t(tid, "pending", 0, request={"input_data": {}}),
            _t(tid, "queued", 0),
            _t(tid, "running", 1, worker="w1"),
            _t(tid, "retrying", 2, worker="w1", result=err),
            _t(tid, "queued", 2, attempt=1),
            _t(tid, "running", 2.5, attempt=1, worker="w1"),
            _t(tid, "completed", 3, attempt=1, worker="w1", result={"execution_time_seconds": 0.5}),
        ]
    )
    c = task_counts(sql_store)
    assert c.tasks == {
        (QUIZ, "queued"): 2,
        (QUIZ, "started"): 2,
        (QUIZ, "retried"): 1,
        (QUIZ, "succeeded"): 1,
    }
    assert (c.histogram("queue_wait", QUIZ).count, c.histogram("queue_wait", QUIZ).total) == (
        2,
        1.5,
    )
    assert c.histogram("runtime", QUIZ).count == 1  # the retried run is in "retried"


def test_two_recorders_at_once_split_pairs_count_once(clean: str) -> None:
    """Two stores (two recorders' connections) record the two halves of 200 executions
    concurrently, over and over: every pair observed exactly once, no deadlock."""
    runs = [_run("completed", 0.1, 1.0) for _ in range(200)]
    firsts = [e for r in runs for e in r[:2]]
    seconds = [e for r in runs for e in r[2:]]
    stores = [SQLStore(clean, pool_size=1), SQLStore(clean, pool_size=1)]
    errors: list[BaseException] = []

    def record(store: SQLStore, events: list[Transition]) -> None:
        try:
            for i in range(0, len(events), 20):
                store.record(events[i : i + 20])
                store.record(events[i : i + 20])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=record, args=(stores[0], firsts)),
        threading.Thread(target=record, args=(stores[1], seconds)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        c = task_counts(stores[0])
        assert c.tasks[(QUIZ, "queued")] == c.tasks[(QUIZ, "started")] == 200
        assert c.tasks[(QUIZ, "succeeded")] == 200
        h = c.histogram("queue_wait", QUIZ)
        assert (h.count, round(h.total, 6)) == (200, 200.0)
    finally:
        for s in stores:
            s.close()
