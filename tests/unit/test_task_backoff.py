"""AgentTask.backoff: full-jitter exponential backoff, fractional factors included."""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.base import AgentTask


class _Task(AgentTask):
    retry_backoff_factor = 0.5
    retry_backoff_max = 3.0


def _noop(self: Any) -> None:
    return None


def test_backoff_is_jittered_under_an_exponential_ceiling() -> None:
    app = Celery("backoff-test", set_as_current=False)
    task = app.task(bind=True, base=_Task, name="agents.test.backoff")(_noop)
    for retries, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (10, 3.0)):
        task.push_request(retries=retries)
        try:
            waits = [task.backoff() for _ in range(200)]
        finally:
            task.pop_request()
        assert all(0.0 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered, not a constant
        assert max(waits) > ceiling / 2
