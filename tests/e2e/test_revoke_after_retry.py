"""A task revoked while it waits for its retry is cancelled at that attempt.

Celery's ``task_revoked`` carries the task's Context, whose attempt is ``retries``; the
hook once read it from ``request_dict`` (which a Context does not have) and recorded
every cancellation as attempt 0, which loses to the retry's ``queued`` at attempt 1:
the row stayed ``queued`` forever.
"""

from __future__ import annotations

import pytest

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process too)
from tests.support.workers import WorkerProcess, wait_for
from workers.app import app
from workers.producer import get_execution

pytestmark = pytest.mark.slow


def test_a_task_revoked_during_its_retry_wait_ends_cancelled(clean: str) -> None:
    with WorkerProcess("revoke-retry", concurrency=1, queues="content_generator"):
        result = app.tasks["agents.content_generator.flaky"].apply_async(
            kwargs={"task_type": "flaky", "input_data": {"fail_times": 1, "countdown": 30}}
        )
        task_id = str(result.id)

        def retrying() -> bool:
            rec = get_execution(task_id)
            return rec is not None and any(
                h["status"] == "queued" and h["attempt"] == 1 for h in rec["history"]
            )

        wait_for(retrying, 60, what="the retry to be queued")
        app.control.revoke(task_id)

        def final() -> dict | None:
            rec = get_execution(task_id)
            return rec if rec is not None and rec["status"] == "cancelled" else None

        rec = wait_for(final, 90, what="the revoked retry to be recorded as cancelled")
    cancelled = [h for h in rec["history"] if h["status"] == "cancelled"]
    assert [h["attempt"] for h in cancelled] == [1], rec["history"]
    assert rec["retry_count"] == 1
    assert not any(h["status"] == "running" and h["attempt"] == 1 for h in rec["history"])
