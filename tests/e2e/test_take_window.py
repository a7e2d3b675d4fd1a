"""A worker killed just after it took a message off its queue does not lose the message.

Kombu's Redis transport takes a message with ``BRPOP`` and only then writes it to the
unacked set, from the worker: a worker SIGKILLed in between lost the message (the soak
lost a task this way, 1 run in 5). With ``workers/broker/take.py`` the worker takes the
message with a script that puts it in the unacked set in the same step, so the
visibility timeout brings it back to another worker. A proxy between the first worker
and Redis kills that worker the moment the reply carrying the message passes through.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import send_content, steps, wait_terminal
from tests.support.breaking_proxy import BreakingProxy
from tests.support.workers import WorkerProcess, wait_for

pytestmark = pytest.mark.slow


def test_a_worker_killed_right_after_taking_a_message_loses_nothing(
    clean: str, tmp_path: Path
) -> None:
    broker = os.environ["CELERY_BROKER_URL"]
    parts = urlsplit(broker)
    task_id = str(uuid.uuid4())
    env = {"AGENTQ_VISIBILITY_TIMEOUT": "5", "AGENTQ_DATA_DIR": str(tmp_path)}
    first = WorkerProcess("taker", concurrency=1, queues="content_generator")

    def kill_first() -> None:
        assert first.proc is not None
        os.killpg(first.proc.pid, signal.SIGKILL)

    proxy = BreakingProxy(
        (parts.hostname or "127.0.0.1", parts.port or 6379),
        task_id.encode(),
        on_trigger=kill_first,
        forward=False,  # the worker dies before the message reaches it
    )
    first.env.update(env, CELERY_BROKER_URL=f"{proxy.url}{parts.path}", AGENTQ_EVENTS_URL=broker)
    proxy.start()
    try:
        with first:
            send_content(task_id=task_id)
            wait_for(proxy.fired.is_set, 60, what="the first worker to take the message")
            assert first.proc is not None
            first.proc.wait(30)
        with WorkerProcess("restorer", concurrency=1, queues="content_generator", env=env):
            rec = wait_terminal(task_id, timeout=120)
    finally:
        proxy.stop()
    assert rec["status"] == "completed" and rec["output_data"]
    # it ran once, on the second worker: the first never saw it
    assert steps(rec) == [("pending", 0), ("queued", 0), ("running", 0), ("completed", 0)]
    assert rec["worker"] == "restorer@agentq-test"
