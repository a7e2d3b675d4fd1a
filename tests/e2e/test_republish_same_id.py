"""A producer that publishes again under the same task id (it did not learn whether the
first publish reached the broker) gets one task: one row, final and right, whose history
shows both runs. The soak's producers retry this way through a Redis restart."""

from __future__ import annotations

import uuid

import pytest

from tasks.registry import get_spec
from tests.e2e.conftest import wait_terminal
from tests.support.workers import WorkerProcess, wait_for
from workers.producer import enqueue, get_execution

pytestmark = pytest.mark.slow


def test_the_same_task_id_published_twice_is_one_task_with_both_runs(clean: str) -> None:
    spec = get_spec("content_generator")
    task_id = str(uuid.uuid4())
    with WorkerProcess("republish", concurrency=1, queues="content_generator"):
        for _ in range(2):
            got = enqueue(spec.agent_type, spec.example_task_type, spec.example, task_id=task_id)
            assert got == task_id

        def both_runs() -> bool:
            rec = get_execution(task_id)
            return rec is not None and [h["status"] for h in rec["history"]].count("completed") == 2

        wait_for(both_runs, 60, what="both runs of the task to be recorded")
    rec = wait_terminal(task_id)
    assert (rec["status"], rec["retry_count"]) == ("completed", 0)
    assert rec["output_data"]
    statuses = [h["status"] for h in rec["history"]]
    assert statuses.count("running") == 2 and statuses.count("completed") == 2
