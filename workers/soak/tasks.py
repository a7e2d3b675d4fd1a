"""Soak-only tasks: each agent's real task after a pause, so that faults always find
tasks in flight (a pool child killed mid-task, a host cut off while it runs). Named
``agents.<agent_type>.soak_slow``; only the soak's workers load this module
(``-I workers.soak.tasks``). A run leaves a mark (``<AGENTQ_DATA_DIR>/started/<task id>``)
when it begins, so the soak knows a fault will find it in flight."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from tasks.base import AgentTask
from tasks.registry import load_agents
from workers.routing import queue_name, task_name
from workers.settings import get_settings

SLOW_SUFFIX = ".soak_slow"


def _recorder_on_the_true_clock() -> None:
    """On the host whose clock runs ahead (libfaketime preloaded), let the recorder child
    start without it. libfaketime 0.9.10 fakes the monotonic clock from the wall clock,
    and Python's timed lock waits (``Event.wait(timeout)``) then never return: the
    recorder hung from its first wait, so the host's heartbeats and spool replays never
    happened. This worker process and its forked pool keep libfaketime (it is loaded;
    the variable only matters to programs started later), so every transition the host
    stamps is still 5 s ahead; the recorder stamps nothing (``recorded_at`` is
    PostgreSQL's)."""
    if os.environ.get("FAKETIME"):
        os.environ.pop("LD_PRELOAD", None)


def slow_name(agent_type: str) -> str:
    return task_name(agent_type) + SLOW_SUFFIX


def register_slow_tasks(app: Celery) -> None:
    for agent_type in load_agents():
        _register(app, agent_type)


def _register(app: Celery, agent_type: str) -> None:
    def run(
        self: AgentTask,
        task_type: str,
        input_data: Any,
        user_id: str | None = None,
        session_id: str | None = None,
        seconds: float = 1.0,
    ) -> dict[str, Any]:
        mark = get_settings().data_dir / "started" / str(self.request.id)
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        time.sleep(seconds)
        return self.run_agent(task_type, input_data)

    app.task(
        run,
        bind=True,
        base=AgentTask,
        name=slow_name(agent_type),
        agent_type=agent_type,
        queue=queue_name(agent_type),
    )


def _register_on_default_app() -> None:
    from workers.app import app

    register_slow_tasks(app)


_register_on_default_app()
_recorder_on_the_true_clock()
