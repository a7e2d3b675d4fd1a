"""Beat's tasks never wait behind a backlog of agent work: a worker takes ``agentq.beat``
first within each priority step (``workers/routing.py``)."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.e2e.conftest import poll, send_test_task
from tests.support.workers import WorkerProcess
from workers.app import app
from workers.beat.names import SYSTEM_HEALTH

pytestmark = pytest.mark.slow

BACKLOG = 40


def test_a_beat_task_runs_before_a_backlog_of_agent_tasks(
    clean: str, redis_client: redis.Redis
) -> None:
    key = uuid.uuid4().hex
    started = f"agentq:test:pid:{key}"  # each slow task appends its pid when it starts
    w = WorkerProcess("beatfirst", concurrency=1).start()
    try:
        for _ in range(BACKLOG):
            send_test_task("slow", {"seconds": 0.25, "key": key})
        poll(lambda: redis_client.llen(started), 60, "the backlog to start")
        beat_id = app.send_task(SYSTEM_HEALTH).id
        done = f"{SYSTEM_HEALTH}[{beat_id}] succeeded"
        poll(lambda: done in w.output(), 120, "the beat task to run")
        ran_before = int(redis_client.llen(started))
    except BaseException:
        print(w.output()[-6000:])
        raise
    finally:
        w.stop()
    # Behind the agent queue it would have waited for all of them; first, for at most
    # the task running and what the worker had already taken (prefetch).
    assert ran_before < BACKLOG // 2, f"{ran_before} of {BACKLOG} agent tasks ran first"
