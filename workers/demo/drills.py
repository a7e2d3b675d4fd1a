"""Retry drills for ``agentq demo``: each agent's real task behind a simulated flaky dependency.

The agent handlers are pure functions that never fail transiently, so the retry path
(``TransientAgentError`` → backoff → ``retrying`` → ``queued`` → next attempt) can only be
shown by simulating the flaky dependency. One drill task per agent type, named
``agents.<agent_type>.retry_drill`` (routed to, and recorded under, that agent type):
its first ``fail_attempts`` attempts raise :class:`TransientAgentError`, then the real
agent runs on the same input. With ``fail_attempts`` above ``DRILL_MAX_RETRIES`` the
retries run out and the execution fails. Only the demo's worker loads this module
(``celery worker -I workers.demo.drills``); production workers never register it.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.base import AgentTask
from tasks.registry import TransientAgentError, load_agents
from workers.routing import queue_name, task_name

DRILL_SUFFIX = ".retry_drill"
DRILL_MAX_RETRIES = 2


def drill_name(agent_type: str) -> str:
    return task_name(agent_type) + DRILL_SUFFIX


class DrillTask(AgentTask):
    abstract = True
    # Short backoff: the demo should show retries, not wait for them.
    retry_backoff_factor = 0.5
    retry_backoff_max = 2.0


def register_drills(app: Celery) -> None:
    for agent_type in load_agents():
        _register(app, agent_type)


def _register(app: Celery, agent_type: str) -> None:
    def run(
        self: DrillTask,
        task_type: str,
        input_data: Any,
        user_id: str | None = None,
        session_id: str | None = None,
        fail_attempts: int = 1,
    ) -> dict[str, Any]:
        if self.request.retries < fail_attempts:
            try:
                raise TransientAgentError(
                    f"simulated upstream timeout (drill: attempt {self.request.retries + 1}"
                    f" of {fail_attempts} failing)"
                )
            except TransientAgentError as exc:
                raise self.retry(exc=exc, countdown=self.backoff()) from exc
        return self.run_agent(task_type, input_data)

    run.__doc__ = f"{agent_type} behind a simulated flaky dependency (agentq demo)."
    app.task(
        run,
        bind=True,
        base=DrillTask,
        name=drill_name(agent_type),
        agent_type=agent_type,
        max_retries=DRILL_MAX_RETRIES,
        queue=queue_name(agent_type),
    )


def _register_on_default_app() -> None:
    from workers.app import app

    register_drills(app)


_register_on_default_app()
