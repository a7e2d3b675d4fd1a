"""A message taken off its queue just as the broker connection breaks is not lost.

Kombu's Redis transport pops a message (``BRPOP``) and then writes it to the unacked set;
when the connection breaks in between, kombu drops it and the task never runs (the soak
lost one task in 1 500 this way around a Redis restart). The worker keeps such a
message on disk and puts it back on its queue when it reconnects
(``workers/broker/inflight.py``). A proxy breaks every connection at exactly that moment.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import send_content, wait_terminal
from tests.support.breaking_proxy import BreakingProxy
from tests.support.workers import WorkerProcess, wait_for

pytestmark = pytest.mark.slow


def test_a_message_popped_as_the_connection_breaks_is_requeued_and_runs(
    clean: str, tmp_path: Path
) -> None:
    broker = os.environ["CELERY_BROKER_URL"]
    parts = urlsplit(broker)
    task_id = str(uuid.uuid4())
    proxy = BreakingProxy((parts.hostname or "127.0.0.1", parts.port or 6379), task_id.encode())
    env = {
        "CELERY_BROKER_URL": f"{proxy.url}{parts.path}",  # the worker's broker: through it
        "AGENTQ_EVENTS_URL": broker,  # recording goes straight to Redis
        "AGENTQ_DATA_DIR": str(tmp_path),
    }
    proxy.start()
    try:
        with WorkerProcess("inflight", concurrency=1, queues="content_generator", env=env) as w:
            send_content(task_id=task_id)
            wait_for(proxy.fired.is_set, 60, what="the proxy to break the worker's connections")
            rec = wait_terminal(task_id, timeout=120)
            log = w.output()
    finally:
        proxy.stop()
    assert rec["status"] == "completed" and rec["output_data"]
    assert "kept in" in log and "requeued 1 message(s)" in log
    assert (tmp_path / "inflight.jsonl").read_bytes() == b""  # nothing left held
