"""A test task whose output is its input (``-I tests.support.tasks,tests.support.echo``):
what a handler returns reaches the ``completed`` hook as it is. With ``{"lone": true}`` in
its input the output also holds a lone surrogate, made by the handler: the message schema
refuses one in a message's input before any worker runs it."""

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
    output = input_data
    if isinstance(input_data, dict) and input_data.get("lone") is True:
        output = {**input_data, "text": "x\ud800y"}
    return {"output_data": output, "quality_score": 1.0}
