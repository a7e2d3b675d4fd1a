"""A job the pool cannot take costs that one message, never the worker (issue 20, item 1).

A message whose arguments cannot be pickled for a pool child (nested deeper than
pickle's recursion limit) used to be set aside, and then the worker never ran another
task: billiard had registered the job and the worker had taken a pool slot for it,
neither was given back, and once the slots were gone every following message waited in
``unacked`` for good. Here the hand-off fails in a real prefork worker, more times than
it has slots, and the worker must set each one aside and run everything after it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.e2e.conftest import send_test_task
from tests.support.handoff_marker import MARKER
from tests.support.workers import WorkerProcess, wait_for
from workers.broker import dead_letters
from workers.producer import get_execution

pytestmark = pytest.mark.slow

QUEUE = "content_generator"
FAULT = ["-I", "tests.support.tasks,tests.support.handoff_fault"]


@pytest.fixture
def redis_db(clean: str, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    yield redis_client


def _status(task_id: str) -> str | None:
    rec = get_execution(task_id)
    return None if rec is None else str(rec["status"])


def _dead(r: redis.Redis) -> list[dict[str, Any]]:
    return dead_letters.DeadLetters(r).entries(dead_letters.SOURCE_MESSAGES)


def _check_worker_went_on(
    r: redis.Redis, w: WorkerProcess, refused: list[str], good: list[str]
) -> list[dict[str, Any]]:
    wait_for(
        lambda: all(_status(t) == "completed" for t in good) or w._died(),
        timeout=120,
        what="the tasks after the failed hand-offs to complete",
    )
    assert not w._died(), w.output()[-4000:]
    found = wait_for(
        lambda: len(_dead(r)) >= len(refused) and _dead(r),
        timeout=60,
        what=f"{len(refused)} dead letters",
    )
    assert sorted(f["task_id"] for f in found) == sorted(refused), found
    # Nothing is held: every message was run and acknowledged, or set aside.
    wait_for(lambda: r.hlen("unacked") == 0, 30, what="no message left unacknowledged")
    # A job that never reached a pool process never ran.
    assert all(_status(t) != "running" for t in refused), [_status(t) for t in refused]
    return found


@pytest.mark.parametrize("concurrency", [2, 1])
def test_a_job_the_pool_cannot_take_is_set_aside_and_the_pool_goes_on(
    redis_db: redis.Redis, concurrency: int
) -> None:
    """With 2 slots the failing jobs take free slots at once; with 1, a slow task holds
    the slot and they wait for it, so each is handed over from the pool's result handler
    when the slot comes back (and must not raise there)."""
    marker = MARKER.decode()
    with WorkerProcess(
        f"handoff{concurrency}", concurrency=concurrency, queues=QUEUE, extra_args=FAULT
    ) as w:
        first = [send_test_task("slow", {"seconds": 2})] if concurrency == 1 else []
        # More failures than the pool has slots: each one used to keep a slot for good.
        refused = [send_test_task("noop", {"text": marker}) for _ in range(3)]
        good = first + [send_test_task("noop") for _ in range(4)]
        found = _check_worker_went_on(redis_db, w, refused, good)
        # ... and it keeps going after them.
        later = send_test_task("noop")
        wait_for(lambda: _status(later) == "completed", 60, what="a task enqueued later")
    assert all(f["kind"] == "other" for f in found), found
    assert all("could not be handed to the pool" in f["reason"] for f in found), found
    assert all("RecursionError" in f["reason"] for f in found), found


def test_a_message_nested_too_deep_to_pickle_does_not_stall_the_worker(
    redis_db: redis.Redis,
) -> None:
    """The message of the report: args nested 800 deep, pushed on the queue raw. Where
    it is refused (a depth bound of the message check, or the pool's hand-off), it is
    set aside, and the worker runs what comes after it."""
    template = send_test_task("noop")
    key = next(
        k
        for k in redis_db.keys(f"{QUEUE}*")
        if redis_db.type(k) == b"list" and not k.endswith(b":bell")
    )
    raw = redis_db.rpop(key)
    assert raw is not None
    env = json.loads(raw)
    refused = []
    for _ in range(3):
        deep: Any = []
        for _ in range(800):
            deep = [deep]
        env["body"] = base64.b64encode(json.dumps([[deep], {}, None]).encode()).decode()
        env["headers"]["id"] = env["properties"]["correlation_id"] = str(uuid.uuid4())
        env["properties"]["delivery_tag"] = str(uuid.uuid4())
        refused.append(env["headers"]["id"])
        redis_db.lpush(key, json.dumps(env).encode())
    with WorkerProcess("deep", concurrency=2, queues=QUEUE) as w:
        good = [send_test_task("noop") for _ in range(4)]
        _check_worker_went_on(redis_db, w, refused, good)
    assert _status(template) == "queued"  # its message was taken off as the template
