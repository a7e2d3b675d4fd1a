"""Vanilla Celery for ``bench_recording``'s anchors (v) and (f): what users run today.

The same agent tasks (``tasks.celery_tasks``) and queues (``workers.routing``) plus the
benchmark's no-op task, on a Celery app configured by ``bench/vanilla_config.py`` alone:
kombu's own Redis transport, Celery's own consumer, no lifecycle hooks, no recorder.
Nothing of ``workers.broker``, ``workers.recording`` or ``workers.app`` may be imported
here or by what this imports (``tests/integration/test_bench_vanilla.py`` checks the
running worker).

    celery -A bench.vanilla_app worker -P prefork -c 2
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.base import AgentTask
from tasks.celery_tasks import register_agent_tasks

app = Celery("agent_workers")
app.config_from_object("bench.vanilla_config")
register_agent_tasks(app)


# tests/support/tasks.py's noop (same name, base, queue and body), on this app: that
# module imports workers.app, which would bring the product's transport and hooks.
@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.noop",
    agent_type="content_generator",
    queue="content_generator",
)
def noop(
    self: AgentTask,
    task_type: str = "noop",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    return {"output_data": {"ok": True}, "quality_score": 1.0}


__all__ = ["app", "noop"]
