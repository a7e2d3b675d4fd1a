"""End to end: a real prefork worker records every task's lifecycle in PostgreSQL.

One worker subprocess (``celery -A workers.app worker``, prefork x2, the test tasks
loaded) serves the whole module; every test reads back only its own task ids, so the
tests do not depend on each other. Tasks are published from this process: its hooks
record ``pending`` / ``queued``, the worker's hooks the rest, and the worker's embedded
recorder drains the stream into the session's database.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
import redis
from celery import signals as celery_signals

from tasks.registry import AGENT_TYPES, get_spec
from tests.e2e.conftest import (
    in_lifecycle_order,
    instance,
    poll,
    private_events_stream,
    send_test_task,
    steps,
    wait_history,
    wait_terminal,
)
from tests.support.database import libpq_url, reset_recording
from tests.support.workers import WorkerProcess, wait_for
from workers.app import app
from workers.producer import enqueue, get_execution
from workers.recording import signals
from workers.settings import get_settings


# --- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def worker(database_url: str, redis_client: redis.Redis) -> Iterator[WorkerProcess]:
    """One prefork worker for the module, started on empty tables and an empty Redis DB."""
    reset_recording(database_url, redis_client)
    w = WorkerProcess("lifecycle", concurrency=2).start()
    try:
        # The worker registered its instances (initializing -> idle) through the stream.
        wait_for(
            lambda: instance(database_url, f"content_generator@{w.hostname}"),
            what="the worker's agent instances",
        )
        yield w
    finally:
        w.stop()
        if w.proc is not None and w.proc.returncode not in (0, None):
            print(w.output()[-5000:])


# --- helpers --------------------------------------------------------------------------
def assert_history_sane(rec: dict[str, Any]) -> None:
    """History invariants every execution keeps: oldest first, first event pending."""
    hist = rec["history"]
    assert hist, rec
    assert hist[0]["status"] == "pending" and hist[0]["attempt"] == 0
    times = [h["occurred_at"] for h in hist]
    assert times == sorted(times)
    assert all(isinstance(t, datetime) for t in times)


# --- success ----------------------------------------------------------------------------
@pytest.mark.parametrize("agent_type", ["content_generator", "quiz_generator"])
def test_agent_task_completes_with_full_record(
    worker: WorkerProcess, database_url: str, agent_type: str
) -> None:
    spec = get_spec(agent_type)
    agent_id = f"{agent_type}@{worker.hostname}"
    before = instance(database_url, agent_id)
    assert before is not None
    done_before = before["total_tasks_completed"] or 0

    session = f"sess-{uuid.uuid4().hex[:8]}"
    task_id = enqueue(agent_type, spec.example_task_type, spec.example, session_id=session)
    rec = wait_terminal(task_id)
    rec = wait_history(task_id, 4)

    assert rec["status"] == "completed", rec
    assert rec["task_id"] == task_id
    assert rec["agent_type"] == agent_type
    assert rec["task_type"] == spec.example_task_type
    assert rec["input_data"] == spec.example
    assert rec["session_id"] == session
    assert rec["output_data"] and isinstance(rec["output_data"], dict)
    assert spec.output_model.model_validate(rec["output_data"])
    assert rec["quality_score"] is not None and 0.0 <= rec["quality_score"] <= 1.0
    assert rec["started_at"] is not None and rec["completed_at"] is not None
    assert rec["enqueued_at"] <= rec["started_at"] <= rec["completed_at"]
    assert rec["execution_time_seconds"] is not None and rec["execution_time_seconds"] > 0
    assert rec["worker"] == worker.hostname
    assert rec["retry_count"] == 0 and rec["attempts"] == 1
    assert rec["error_message"] is None and rec["error_type"] is None

    assert steps(rec) == [("pending", 0), ("queued", 0), ("running", 0), ("completed", 0)]
    assert_history_sane(rec)
    pending, queued, running, completed = rec["history"]
    assert pending["worker"] is None and queued["worker"] is None
    assert running["worker"] == completed["worker"] == worker.hostname
    assert completed["detail"]["quality_score"] == rec["quality_score"]
    assert completed["occurred_at"] == rec["completed_at"]
    assert running["occurred_at"] == rec["started_at"]

    # The instance counted the task, and is idle again.
    def counted() -> dict[str, Any] | None:
        inst = instance(database_url, agent_id)
        if inst and (inst["total_tasks_completed"] or 0) == done_before + 1:
            return inst
        return None

    inst = poll(counted, 10, f"{agent_id} to count the task")
    assert inst["status"] == "idle"
    assert inst["current_task_id"] is None
    assert inst["worker"] == worker.hostname
    assert inst["last_activity"] >= rec["completed_at"]
    assert inst["total_execution_time"] >= rec["execution_time_seconds"]
    assert inst["agent_type"] == agent_type


# --- failure ----------------------------------------------------------------------------
def test_a_long_task_is_seen_running_while_it_runs(worker: WorkerProcess) -> None:
    # `running` is recorded as the task starts, not with its end.
    task_id = send_test_task("slow", {"seconds": 3})
    t0 = time.monotonic()
    rec = poll(
        lambda: (r := get_execution(task_id)) and r["status"] == "running" and r,
        2.5,
        "the execution to show running",
    )
    assert time.monotonic() - t0 < 2.5 and rec["completed_at"] is None
    assert rec["worker"] == worker.hostname
    assert wait_terminal(task_id)["status"] == "completed"


def test_handler_exception_fails_the_execution(worker: WorkerProcess) -> None:
    task_id = send_test_task("boom")
    rec = wait_terminal(task_id)
    rec = wait_history(task_id, 4)

    assert rec["status"] == "failed", rec
    assert "boom" in rec["error_message"]
    assert rec["error_type"] == "RuntimeError"
    assert rec["output_data"] is None and rec["quality_score"] is None
    assert rec["worker"] == worker.hostname
    assert rec["retry_count"] == 0 and rec["attempts"] == 1
    assert rec["completed_at"] is not None and rec["started_at"] <= rec["completed_at"]
    assert steps(rec) == [("pending", 0), ("queued", 0), ("running", 0), ("failed", 0)]
    assert_history_sane(rec)
    failed = in_lifecycle_order(rec["history"])[-1]
    assert failed["detail"]["error_type"] == "RuntimeError"
    assert "boom" in failed["detail"]["error_message"]


# --- retries ----------------------------------------------------------------------------
def test_transient_errors_retry_then_succeed(worker: WorkerProcess) -> None:
    task_id = send_test_task("flaky", {"fail_times": 2, "countdown": 0.2})
    rec = wait_terminal(task_id)
    rec = wait_history(task_id, 10)

    assert rec["status"] == "completed", rec
    assert rec["retry_count"] == 2
    assert rec["attempts"] == 3
    assert rec["output_data"] == {"attempts": 3}
    assert rec["quality_score"] == 0.5
    assert rec["error_message"] is None and rec["error_type"] is None
    assert_history_sane(rec)
    # A retry publishes attempt n+1 before task_retry of attempt n fires, so queued(n+1)
    # and retrying(n) may be in either order: compare as a multiset, then the shape.
    expected = [
        ("pending", 0),
        ("queued", 0),
        ("running", 0),
        ("retrying", 0),
        ("queued", 1),
        ("running", 1),
        ("retrying", 1),
        ("queued", 2),
        ("running", 2),
        ("completed", 2),
    ]
    assert sorted(steps(rec)) == sorted(expected)
    assert steps(rec)[-1] == ("completed", 2)
    for h in rec["history"]:
        if h["status"] == "retrying":
            # The cause is named, not Celery's Retry wrapper around it.
            detail = h["detail"]
            assert detail["error_message"] == f"transient failure on attempt {h['attempt']}"
            assert detail["error_type"] == "TransientAgentError"
            assert h["worker"] == worker.hostname
    # Each attempt runs only after it was queued.
    for attempt in (0, 1, 2):
        at = {str(h["status"]): h["occurred_at"] for h in rec["history"] if h["attempt"] == attempt}
        assert at["queued"] <= at["running"]


def test_retries_exhausted_fail_with_the_transient_error(worker: WorkerProcess) -> None:
    task_id = send_test_task("flaky", {"fail_times": 10, "countdown": 0.1})
    rec = wait_terminal(task_id)
    rec = wait_history(task_id, 13)

    assert rec["status"] == "failed", rec
    assert rec["retry_count"] == 3  # max_retries=3: attempts 0..3
    assert rec["attempts"] == 4
    assert rec["error_type"] == "TransientAgentError"
    assert rec["error_message"] == "transient failure on attempt 3"
    assert rec["max_retries"] == 3
    assert_history_sane(rec)
    s = steps(rec)
    assert s[-1] == ("failed", 3)
    assert sorted(a for st, a in s if st == "retrying") == [0, 1, 2]
    assert sorted(a for st, a in s if st == "running") == [0, 1, 2, 3]
    assert sorted(a for st, a in s if st == "queued") == [0, 1, 2, 3]
    assert len(s) == 1 + 4 + 4 + 3 + 1  # pending, 4 queued, 4 running, 3 retrying, failed


# --- revoke ------------------------------------------------------------------------------
def test_revoked_queued_task_is_cancelled_and_never_runs(worker: WorkerProcess) -> None:
    spec = get_spec("content_generator")
    task_id = enqueue("content_generator", spec.example_task_type, spec.example, countdown=3)
    app.control.revoke(task_id)
    # The worker meets the revoked message (at once, or when its ETA comes) and drops it.
    rec = wait_terminal(task_id, timeout=30)

    assert rec["status"] == "cancelled", rec
    assert rec["error_type"] == "Revoked"
    assert "revoked" in rec["error_message"]
    assert rec["started_at"] is None
    assert rec["attempts"] == 0
    assert rec["output_data"] is None
    assert steps(rec) == [("pending", 0), ("queued", 0), ("cancelled", 0)]
    assert rec["history"][-1]["worker"] == worker.hostname
    # Past its ETA it still has not run.
    time.sleep(max(0.0, 3.5 - (time.time() - rec["history"][0]["occurred_at"].timestamp())))
    again = get_execution(task_id)
    assert again is not None and again["status"] == "cancelled"
    assert "running" not in [h["status"] for h in again["history"]]


# --- countdown (ETA) ---------------------------------------------------------------------
def test_countdown_task_waits_and_keeps_its_request(worker: WorkerProcess) -> None:
    spec = get_spec("content_generator")
    user_id = uuid.uuid4()
    session = f"sess-{uuid.uuid4().hex[:8]}"
    t0 = time.time()
    task_id = enqueue(
        "content_generator",
        "outline",
        spec.example,
        user_id=str(user_id),
        session_id=session,
        countdown=2,
        priority="high",
    )
    rec = wait_terminal(task_id, timeout=30)
    rec = wait_history(task_id, 4)

    assert rec["status"] == "completed", rec
    assert rec["task_type"] == "outline"
    assert rec["input_data"] == spec.example
    assert rec["user_id"] == user_id
    assert rec["session_id"] == session
    assert str(rec["priority"]) == "high"
    assert steps(rec) == [("pending", 0), ("queued", 0), ("running", 0), ("completed", 0)]
    at = {str(h["status"]): h["occurred_at"].timestamp() for h in rec["history"]}
    # The ETA is now + 2 s when apply_async is called, i.e. after t0; the worker holds
    # the message until then (small slack for clock conversion in the worker's timer).
    assert at["running"] >= t0 + 2.0 - 0.05
    assert at["running"] - at["queued"] >= 2.0 - 0.1
    assert rec["started_at"].timestamp() >= t0 + 2.0 - 0.05
    assert rec["enqueued_at"].timestamp() == pytest.approx(at["pending"], abs=1e-3)


# --- enqueue validation -----------------------------------------------------------------
@contextlib.contextmanager
def quiet_publishing(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[dict[str, Any]]:
    """This process records into a private stream no recorder reads, and every publish
    it attempts is counted; on the way out the spy is disconnected and ``monkeypatch``,
    the settings and the sink are restored (``private_events_stream``)."""
    published: list[Any] = []

    def spy(sender: Any = None, headers: Any = None, **_: Any) -> None:
        published.append((sender, (headers or {}).get("id")))

    with private_events_stream(monkeypatch, redis_client, "validation") as stream:
        celery_signals.before_task_publish.connect(spy, weak=False)
        try:
            yield {"stream": stream, "published": published, "monkeypatch": monkeypatch}
        finally:
            celery_signals.before_task_publish.disconnect(spy)


@pytest.fixture
def quiet_stream(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> Iterator[dict[str, Any]]:
    with quiet_publishing(monkeypatch, redis_client) as state:
        yield state


def _rows(db: str) -> int:
    with psycopg.connect(libpq_url(db)) as conn:
        row = conn.execute("SELECT count(*) FROM agent_executions").fetchone()
        assert row is not None
        return int(row[0])


def _assert_nothing_sent(
    state: dict[str, Any], redis_client: redis.Redis, rows0: int, db: str
) -> None:
    """No publish was attempted, no transition reached the stream, no row appeared."""
    assert state["published"] == []
    assert redis_client.xlen(state["stream"]) == 0
    for q in AGENT_TYPES:
        assert redis_client.llen(f"{q}:5") == 0 and redis_client.llen(q) == 0
    assert _rows(db) == rows0


CONTENT = get_spec("content_generator").example


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("no_such_agent", "lesson", CONTENT), {}, "unknown agent_type 'no_such_agent'"),
        (
            ("terrain_generator", "generate", {"size": 3, "seed": 1, "biome": "grassland"}),
            {},
            "size",
        ),
        (("content_generator", "lesson", [CONTENT]), {}, "input_data must be a JSON object"),
        (("content_generator", "lesson", "topic"), {}, "input_data must be a JSON object"),
        (("content_generator", "sonnet", CONTENT), {}, "task_type 'sonnet'"),
        (("content_generator", "lesson", {**CONTENT, "grade_level": 42}), {}, "grade_level"),
        (("content_generator", "lesson", {**CONTENT, "colour": "red"}), {}, "colour"),
        (
            ("content_generator", "lesson", {k: v for k, v in CONTENT.items() if k != "topic"}),
            {},
            "topic",
        ),
        (("quiz_generator", "quiz", {"content": "", "num_questions": 4}), {}, "content"),
        (("content_generator", "lesson", CONTENT), {"user_id": "bob"}, "user_id"),
        (("content_generator", "lesson", CONTENT), {"countdown": -1}, "countdown"),
        (("content_generator", "lesson", CONTENT), {"priority": "asap"}, "priority"),
        (("content_generator", "lesson", CONTENT), {"session_id": 7}, "session_id"),
    ],
)
def test_enqueue_rejects_bad_requests_before_publishing(
    quiet_stream: dict[str, Any],
    redis_client: redis.Redis,
    database_url: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    rows0 = _rows(database_url)
    with pytest.raises(ValueError, match=None) as exc_info:
        enqueue(*args, **kwargs)
    assert message in str(exc_info.value)
    _assert_nothing_sent(quiet_stream, redis_client, rows0, database_url)


def test_enqueue_rejects_input_over_the_size_limit(
    quiet_stream: dict[str, Any], redis_client: redis.Redis, database_url: str
) -> None:
    size = len(json.dumps(CONTENT, separators=(",", ":")).encode())
    quiet_stream["monkeypatch"].setenv("AGENTQ_MAX_INPUT_BYTES", str(size - 1))
    get_settings.cache_clear()
    assert get_settings().max_input_bytes == size - 1
    rows0 = _rows(database_url)
    with pytest.raises(ValueError) as exc_info:
        enqueue("content_generator", "lesson", CONTENT)
    msg = str(exc_info.value)
    assert f"{size} bytes" in msg and f"limit of {size - 1} bytes" in msg
    assert "AGENTQ_MAX_INPUT_BYTES" in msg
    _assert_nothing_sent(quiet_stream, redis_client, rows0, database_url)


def test_validation_fixture_restores_settings(redis_client: redis.Redis) -> None:
    """What the quiet_stream fixture changes for a test (the events stream, the publish
    spy, and a size limit the test sets through the fixture's monkeypatch, as the test
    above does) is undone when it ends, whatever ran before this test."""
    names = ("AGENTQ_EVENTS_STREAM", "AGENTQ_MAX_INPUT_BYTES")
    env_before = {name: os.environ.get(name) for name in names}
    before = get_settings()
    spies_before = len(celery_signals.before_task_publish.receivers)
    with pytest.MonkeyPatch.context() as monkeypatch:
        with quiet_publishing(monkeypatch, redis_client) as state:
            limit = before.max_input_bytes + 1
            state["monkeypatch"].setenv("AGENTQ_MAX_INPUT_BYTES", str(limit))
            get_settings.cache_clear()
            during = get_settings()
            assert during.events_stream == state["stream"] != before.events_stream
            assert during.max_input_bytes == limit
            assert len(celery_signals.before_task_publish.receivers) == spies_before + 1
            sink = signals.get_sink()
            assert sink is not None and sink.stream == state["stream"]

        assert {name: os.environ.get(name) for name in names} == env_before
        after = get_settings()  # read again: not the settings cached during the test
        assert after.events_stream == before.events_stream
        assert after.max_input_bytes == before.max_input_bytes
        assert len(celery_signals.before_task_publish.receivers) == spies_before
        sink = signals.get_sink()
        assert sink is not None and sink.stream == before.events_stream
