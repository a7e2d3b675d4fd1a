"""Test-only agent tasks with controllable behaviour (loaded by test workers with
``-I tests.support.tasks`` or by importing this module).

They use the real task base and names of the form ``agents.<agent_type>.<variant>``,
so the lifecycle hooks record them like any agent task.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis

from tasks.base import AgentTask
from tasks.registry import TransientAgentError
from workers.app import app
from workers.settings import get_settings


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


@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.boom",
    agent_type="content_generator",
    queue="content_generator",
)
def boom(
    self: AgentTask,
    task_type: str = "boom",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    raise RuntimeError("boom: the handler failed")


@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.flaky",
    agent_type="content_generator",
    queue="content_generator",
    max_retries=3,
)
def flaky(
    self: AgentTask,
    task_type: str = "flaky",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Fails with a transient error ``fail_times`` times, then succeeds."""
    data = input_data or {}
    if self.request.retries < int(data.get("fail_times", 0)):
        try:
            raise TransientAgentError(f"transient failure on attempt {self.request.retries}")
        except TransientAgentError as exc:
            raise self.retry(exc=exc, countdown=float(data.get("countdown", 0.1))) from exc
    return {"output_data": {"attempts": self.request.retries + 1}, "quality_score": 0.5}


@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.slow",
    agent_type="content_generator",
    queue="content_generator",
)
def slow(
    self: AgentTask,
    task_type: str = "slow",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Sleeps ``seconds``; the first run of a key also writes its pid to Redis so a
    test can kill the process running it."""
    data = input_data or {}
    key = data.get("key")
    if key:
        redis.Redis.from_url(get_settings().broker_url).rpush(f"agentq:test:pid:{key}", os.getpid())
    time.sleep(float(data.get("seconds", 1.0)))
    return {"output_data": {"slept": data.get("seconds", 1.0)}, "quality_score": 0.9}


@app.task(
    bind=True,
    base=AgentTask,
    name="agents.content_generator.chatty",
    agent_type="content_generator",
    queue="content_generator",
)
def chatty(
    self: AgentTask,
    task_type: str = "chatty",
    input_data: Any = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Logs a line and prints one (Celery redirects a task's stdout into its log)."""
    logging.getLogger("tests.support.tasks").warning("chatty: a line from inside the task")
    print("chatty: printed by the task")
    return {"output_data": {"ok": True}, "quality_score": 1.0}
