"""A test task whose output is its input (``-I tests.support.tasks,tests.support.echo``):
what a handler returns reaches the ``completed`` hook as it is."""

from __future__ import annotations

from typing import Any

import tests.support.tasks  # noqa: F401  (the other test tasks, as `-I tests.support.tasks`)
from tasks.base import AgentTask
from workers.app import app


@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.echo",
    agent_type="content_generator",
    queue="content_generator",
)
def echo(
    self: AgentTask,
    task_type: str = "echo",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    return {"output_data": input_data, "quality_score": 1.0}
