"""The reconciler with real workers (issue 23): a queued message deleted from Redis is
found lost, published again and completes, its history showing the redelivery; a
message published without its row gets one and completes; a task held past its hard
time limit, or left running on a killed worker, is stuck."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.conftest import send_content, send_test_task, wait_terminal
from tests.support.workers import WorkerProcess, wait_for
from workers.producer import get_execution
from workers.reconcile import reconcile_once
from workers.reconcile.broker_view import queue_keys
from workers.recording import signals
from workers.settings import load_settings

pytestmark = pytest.mark.slow

QUEUE = "content_generator"


def _status(task_id: str) -> str | None:
    rec = get_execution(task_id)
    return None if rec is None else str(rec["status"])


def _recording_worker(name: str) -> WorkerProcess:
    """A worker that records (its recorder child) but consumes another queue."""
    return WorkerProcess(name, concurrency=1, queues="quiz_generator")


def test_a_lost_message_is_published_again_and_completes(
    clean: str, redis_client: redis.Redis
) -> None:
    with _recording_worker("rec-lost"):
        task_id = send_content()
        wait_for(lambda: _status(task_id) == "queued", 30, what="the task recorded queued")
        redis_client.delete(*queue_keys(QUEUE))  # the broker lost it
        report = reconcile_once(repair=True, grace_s=0)
        assert report.counts["lost"] == 1 and report.repaired["lost"] == 1
        with WorkerProcess("runs-lost", concurrency=1, queues=QUEUE):
            rec = wait_terminal(task_id, timeout=60)
    assert (rec["status"], rec["retry_count"]) == ("completed", 0)
    timeline = [(h["status"], (h["detail"] or {}).get("error_type")) for h in rec["history"]]
    assert ("queued", "Redelivered") in timeline
    assert [s for s, _ in timeline].count("running") == 1  # ran once, after the redelivery


def test_a_message_without_a_row_gets_one_and_completes(
    clean: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _recording_worker("rec-unrec"):
        monkeypatch.setattr(signals.state, "disabled", True)  # a producer that bypassed the hooks
        task_id = send_content()
        monkeypatch.undo()
        assert _status(task_id) is None
        report = reconcile_once(repair=True, grace_s=0)
        assert report.counts["unrecorded"] == 1 and report.repaired["unrecorded"] == 1
        wait_for(lambda: _status(task_id) == "queued", 30, what="the row created")
        with WorkerProcess("runs-unrec", concurrency=1, queues=QUEUE):
            rec = wait_terminal(task_id, timeout=60)
    assert rec["status"] == "completed" and rec["input_data"]
    assert reconcile_once(repair=False, grace_s=0).counts["unrecorded"] == 0


def _pool_processes(w: WorkerProcess) -> list[int]:
    out = []
    for pid in w.children():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"workers.recording.recorder_process" not in cmdline:
            out.append(pid)
    return out


def _wait_started(client: redis.Redis, key: str) -> None:
    """Until the slow task's process has started it (it writes its pid: no recorder lag,
    which under load could outlast the task's short time limit)."""
    wait_for(lambda: client.llen(f"agentq:test:pid:{key}") > 0, 60, what="the task started")


def test_a_task_held_past_its_hard_limit_is_stuck(clean: str, redis_client: redis.Redis) -> None:
    w = WorkerProcess("frozen", concurrency=1, queues=QUEUE)
    frozen: list[int] = []
    with w:
        try:
            task_id = send_test_task("slow", {"seconds": 60, "key": "frozen"}, time_limit=4)
            _wait_started(redis_client, "frozen")
            # freeze the worker and its pool (its recorder heartbeats on: it is online)
            assert w.proc is not None
            frozen = [w.proc.pid, *_pool_processes(w)]
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)

            def stuck() -> dict[str, Any] | None:
                report = reconcile_once(repair=True, grace_s=0)
                return report.examples["stuck"][0] if report.counts["stuck"] else None

            found = wait_for(stuck, 60, interval=1, what="the task stuck")
            assert found["task_id"] == task_id and found["where"] == w.hostname
            assert "past its hard time limit of 4 s" in found["detail"]
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)


def test_a_task_on_a_killed_worker_is_stuck_and_published_again_if_its_message_is_gone(
    clean: str, redis_client: redis.Redis
) -> None:
    settings = load_settings(stale_agent_seconds=2)
    w = WorkerProcess("killed", concurrency=1, queues=QUEUE)
    with w:
        task_id = send_test_task("slow", {"seconds": 60, "key": "killed"}, time_limit=5)
        _wait_started(redis_client, "killed")
        w.kill()
    wait_for(lambda: _status(task_id) == "running", 30, what="its running recorded")

    def stuck() -> dict[str, Any] | None:
        report = reconcile_once(repair=True, grace_s=0, settings=settings)
        return report.examples["stuck"][0] if report.counts["stuck"] else None

    found = wait_for(stuck, 30, interval=1, what="the task stuck on its gone worker")
    assert found["task_id"] == task_id and found["where"] == w.hostname
    assert "its worker is gone" in found["detail"] and "unacked" in found["detail"]
    assert not found["republish"]  # its message comes back by itself

    redis_client.delete("unacked", "unacked_index")  # ... unless the broker lost it too

    def republished() -> Any:
        report = reconcile_once(repair=True, grace_s=0, settings=settings)
        return report if report.repaired["stuck"] else None

    report = wait_for(republished, 60, interval=1, what="the stuck task published again")
    assert report.examples["stuck"][0]["republish"]
    assert any(
        task_id.encode() in m for k in queue_keys(QUEUE) for m in redis_client.lrange(k, 0, -1)
    )
    rec = get_execution(task_id)
    assert rec is not None
    lines = [(h["status"], (h["detail"] or {}).get("error_type")) for h in rec["history"]]
    assert ("queued", "Redelivered") in lines
    # published once: the next pass finds its message in the queue
    again = reconcile_once(repair=True, grace_s=0, settings=settings)
    assert again.repaired["stuck"] == 0
