"""``AGENTQ_RUNNING_HOLD_MS`` on real workers: a short task's ``running`` travels in one
stream entry with its end, a long task's on its own when the hold expires, and a pool
process killed within the hold still leaves its ``running`` recorded (by the main process).
"""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

import orjson
import pytest
import redis

from tests.e2e.conftest import (
    in_lifecycle_order,
    poll,
    private_events_stream,
    send_test_task,
    steps,
    wait_terminal,
)
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.slow


def _entries_of(r: redis.Redis, stream: str, task_id: str) -> list[list[tuple[str, int]]]:
    """The stream entries holding ``task_id``'s transitions, as (status, attempt) lists."""
    out = []
    for _, fields in r.xrange(stream):
        evs: list[dict[str, Any]] = orjson.loads(fields[b"e"])
        mine = [(e["s"], e["a"]) for e in evs if e.get("t") == task_id]
        if mine:
            out.append(mine)
    return out


def test_short_task_sends_running_with_its_end_and_long_task_on_its_own(
    clean: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    with private_events_stream(monkeypatch, redis_client, "hold") as stream:
        env = {
            "AGENTQ_EVENTS_STREAM": stream,
            "AGENTQ_EMBEDDED_RECORDER": "false",  # the entries stay in the stream to be read
            "AGENTQ_RUNNING_HOLD_MS": "300",
        }
        w = WorkerProcess("hold", concurrency=1, env=env).start()
        try:
            short = send_test_task("noop")
            long = send_test_task("slow", {"seconds": 2})

            def ended(task_id: str) -> list[list[tuple[str, int]]] | None:
                entries = _entries_of(redis_client, stream, task_id)
                done = any(s in ("completed", "failed") for e in entries for s, _ in e)
                return entries if done else None

            short_entries = poll(lambda: ended(short), 60, "the short task's end")
            long_entries = poll(lambda: ended(long), 60, "the long task's end")
        except BaseException:
            print(w.output()[-6000:])
            raise
        finally:
            w.stop()
    assert short_entries == [[("pending", 0), ("queued", 0)], [("running", 0), ("completed", 0)]]
    assert long_entries == [[("pending", 0), ("queued", 0)], [("running", 0)], [("completed", 0)]]


def test_pool_process_killed_within_the_hold_still_records_its_running(
    clean: str, redis_client: redis.Redis
) -> None:
    # A hold longer than the task: the first run's running is still held when it is killed.
    w = WorkerProcess("holdkill", concurrency=2, env={"AGENTQ_RUNNING_HOLD_MS": "60000"}).start()
    try:
        key = uuid.uuid4().hex
        task_id = send_test_task("slow", {"seconds": 3, "key": key})
        raw = poll(lambda: redis_client.lindex(f"agentq:test:pid:{key}", 0), 30, "first run")
        first = int(raw)
        os.kill(first, signal.SIGKILL)
        rec = wait_terminal(task_id, 5, timeout=60)
    except BaseException:
        print(w.output()[-6000:])
        raise
    finally:
        w.stop()
    assert rec["status"] == "completed", rec
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
    assert rec["started_at"] == run1["occurred_at"]
