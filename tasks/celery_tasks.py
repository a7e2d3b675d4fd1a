"""Registers one Celery task per available agent type on an app (without building it)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.base import AgentTask
from tasks.registry import AgentSpec, load_agents

TASK_PREFIX = "agents."


def register_agent_tasks(app: Celery) -> None:
    for spec in load_agents().values():
        _register(app, spec)


def _register(app: Celery, spec: AgentSpec) -> None:
    def run(
        self: AgentTask,
        task_type: str,
        input_data: Any,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        return self.run_agent(task_type, input_data)

    run.__doc__ = spec.description
    app.task(
        run,
        bind=True,
        base=AgentTask,
        name=TASK_PREFIX + spec.agent_type,
        agent_type=spec.agent_type,
        max_retries=spec.max_retries,
        soft_time_limit=spec.soft_time_limit,
        time_limit=spec.time_limit,
        queue=spec.agent_type,
    )
