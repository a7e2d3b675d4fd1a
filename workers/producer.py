"""The producer API the web app calls: enqueue an agent task, read its execution.

    from workers.producer import enqueue, get_execution
    task_id = enqueue("quiz_generator", "quiz", {"content": "...", "num_questions": 5})
    record = get_execution(task_id)   # the agent_executions row + "history"

Bad input raises ``ValueError`` naming the problem before anything is published or
recorded. The lifecycle hooks record ``pending`` and ``queued`` as the message is
published.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from persistence.sql_store import SQLStore
from tasks.registry import get_spec
from tasks.validation import InvalidAgentInput, validate_input
from workers.routing import PRIORITIES, task_name
from workers.settings import get_settings


def _celery_priority(priority: int | str | None) -> int | None:
    if priority is None:
        return None
    if isinstance(priority, str):
        if priority not in PRIORITIES:
            raise InvalidAgentInput(
                f"priority {priority!r} is not one of {', '.join(PRIORITIES)} (or 0-9)"
            )
        return PRIORITIES[priority]
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
        raise InvalidAgentInput(f"priority must be 0-9 or a name, not {priority!r}")
    return priority


def _check_user_id(user_id: Any) -> str | None:
    if user_id is None:
        return None
    try:
        return str(uuid.UUID(str(user_id)))
    except ValueError:
        raise InvalidAgentInput(f"user_id must be a UUID, not {user_id!r}") from None


def enqueue(
    agent_type: str,
    task_type: str,
    input_data: Any,
    *,
    user_id: str | uuid.UUID | None = None,
    session_id: str | None = None,
    countdown: float | None = None,
    priority: int | str | None = None,
    producer: Any = None,
) -> str:
    """Publish an agent task; returns its task id (also ``agent_executions.task_id``).

    ``producer`` (a kombu producer from ``app.producer_or_acquire()``) lets a batch of
    calls share one broker connection.

    Raises ``ValueError`` (:class:`tasks.validation.InvalidAgentInput`) for an unknown
    or unavailable agent type, a task type the agent does not support, input that is
    not a JSON object, is larger than ``AGENTQ_MAX_INPUT_BYTES`` or fails the agent's
    input model, a bad user id, countdown or priority.
    """
    from workers.app import app  # the app registers the tasks and the hooks

    settings = get_settings()
    spec = get_spec(agent_type)
    validate_input(agent_type, task_type, input_data, settings.max_input_bytes)
    user = _check_user_id(user_id)
    if session_id is not None and not isinstance(session_id, str):
        raise InvalidAgentInput(f"session_id must be a string, not {type(session_id).__name__}")
    if countdown is not None and (
        isinstance(countdown, bool) or not isinstance(countdown, int | float) or countdown < 0
    ):
        raise InvalidAgentInput(f"countdown must be a number of seconds >= 0, not {countdown!r}")
    options: dict[str, Any] = {}
    celery_priority = _celery_priority(priority)
    if celery_priority is not None:
        options["priority"] = celery_priority
    if countdown:
        options["countdown"] = countdown
    if producer is not None:
        options["producer"] = producer
    result = app.tasks[task_name(spec.agent_type)].apply_async(
        kwargs={
            "task_type": task_type,
            "input_data": input_data,
            "user_id": user,
            "session_id": session_id,
        },
        **options,
    )
    return str(result.id)


@functools.lru_cache(maxsize=1)
def _store() -> SQLStore:
    return SQLStore(get_settings().sqlalchemy_url, pool_size=get_settings().db_pool_size)


def get_store() -> SQLStore:
    """The process's SQL store (created on first use; safe across fork)."""
    return _store()


def get_execution(task_id: str) -> dict[str, Any] | None:
    """The ``agent_executions`` row of ``task_id`` plus ``history`` (a list of
    ``{status, attempt, occurred_at, worker, detail}``, oldest first); None when unknown."""
    return get_store().get_execution(task_id)
