"""The producer API the web app calls: enqueue an agent task, read its execution.

    from workers.producer import enqueue, get_execution
    task_id = enqueue("quiz_generator", "quiz", {"content": "...", "num_questions": 5})
    record = get_execution(task_id)   # the agent_executions row + "history"

Bad input raises ``ValueError`` naming the problem (and the field) before anything is
published or recorded: see :func:`enqueue` for what is refused and the limits. The
lifecycle hooks record ``pending`` and ``queued`` as the message is published.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from persistence.task_ids import task_id_problem  # the one rule for ids
from tasks.registry import get_spec
from tasks.validation import InvalidAgentInput, brief, check_text, validate_input
from workers import task_id_claims
from workers.routing import PRIORITIES, task_name
from workers.settings import get_settings
from workers.stores import get_store

# Limits of the scalar arguments. The columns are TEXT, but btree indexes cover
# (agent_type, task_type) and (user_id, session_id), and PostgreSQL refuses an index row
# over 2704 bytes: the limits keep far below it (4 UTF-8 bytes per character at most).
MAX_TYPE_CHARS = 64  # agent_type and task_type (the registry's names are far shorter)
MAX_SESSION_ID_CHARS = 255
MAX_USER_ID_CHARS = 64  # a UUID in any form uuid.UUID accepts ("urn:uuid:{...}")
#: Longest countdown: 366 days. A task a year out is a bug, and far larger ones overflow
#: Celery's ETA (datetime) arithmetic after the checks.
MAX_COUNTDOWN_SECONDS = 366 * 24 * 3600


def _celery_priority(priority: int | str | None) -> int | None:
    if priority is None:
        return None
    if isinstance(priority, str):
        if priority not in PRIORITIES:
            raise InvalidAgentInput(
                f"priority {brief(priority)} is not one of {', '.join(PRIORITIES)} (or 0-9)"
            )
        return PRIORITIES[priority]
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
        raise InvalidAgentInput(f"priority must be 0-9 or a name, not {brief(priority)}")
    return priority


def _check_user_id(user_id: Any) -> str | None:
    if user_id is None or isinstance(user_id, uuid.UUID):
        return None if user_id is None else str(user_id)
    if isinstance(user_id, str):
        check_text("user_id", user_id, MAX_USER_ID_CHARS)
    try:
        return str(uuid.UUID(str(user_id)))  # also other UUID types (asyncpg's)
    except ValueError:
        raise InvalidAgentInput(f"user_id must be a UUID, not {brief(user_id)}") from None


def _check_session_id(session_id: Any) -> str | None:
    if session_id is None:
        return None
    return check_text("session_id", session_id, MAX_SESSION_ID_CHARS)


def _check_countdown(countdown: Any) -> float | int | None:
    """Seconds to wait, finite and within 0..MAX_COUNTDOWN_SECONDS (the ETA must be a date)."""
    if countdown is None:
        return None
    if isinstance(countdown, bool) or not isinstance(countdown, int | float):
        raise InvalidAgentInput(
            f"countdown must be a number of seconds, not {type(countdown).__name__}"
        )
    # ints are compared as ints: math.isfinite(10**400) would itself overflow
    if isinstance(countdown, float) and not math.isfinite(countdown):
        raise InvalidAgentInput(f"countdown must be a finite number of seconds, not {countdown!r}")
    if not 0 <= countdown <= MAX_COUNTDOWN_SECONDS:
        raise InvalidAgentInput(
            f"countdown must be between 0 and {MAX_COUNTDOWN_SECONDS} seconds (366 days), "
            f"not {brief(countdown)}"
        )
    return countdown


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
    task_id: str | None = None,
) -> str:
    """Publish an agent task; returns its task id (also ``agent_executions.task_id``).

    ``task_id`` (default: a new UUID) makes a retried call idempotent: a caller that did
    not learn whether a publish went through (the broker connection dropped) publishes
    again under the same id, and the task has one row, whose history shows both runs if
    both messages arrived.

    ``producer`` (a kombu producer from ``app.producer_or_acquire()``) lets a batch of
    calls share one broker connection.

    Raises ``ValueError`` (:class:`tasks.validation.InvalidAgentInput`) naming the field,
    and publishes nothing, for: an unknown or unavailable agent type, a task type the agent
    does not support, input that is not a JSON object, that PostgreSQL or the recorder could
    not store (NUL characters or lone surrogates in strings or keys, non-string keys, NaN or
    infinite floats, integers beyond 64 bits, dicts / lists nested more than
    ``MAX_INPUT_DEPTH`` = 32 levels), that is larger than ``AGENTQ_MAX_INPUT_BYTES`` or fails
    the agent's input model; a ``task_type`` / ``agent_type`` over 64 characters, a
    ``session_id`` that is not a string or is over 255 characters, a ``user_id`` that is not
    a UUID, a ``task_id`` that is not a task id (``persistence/task_ids.py``: 1-255 printable
    characters, so no newline), a
    ``countdown`` that is not finite or not within 0 to 366 days (in seconds), a
    ``priority`` that is not an int 0-9 or a name, a ``task_id`` already used by another
    agent type (``workers/task_id_claims.py``; the same agent type again is a retry and works).
    """
    from workers.app import app  # the app registers the tasks and the hooks

    settings = get_settings()
    # cheap checks of the scalars first; then the input (one walk, then the agent's model)
    spec = get_spec(check_text("agent_type", agent_type, MAX_TYPE_CHARS))
    check_text("task_type", task_type, MAX_TYPE_CHARS)
    user = _check_user_id(user_id)
    session = _check_session_id(session_id)
    seconds = _check_countdown(countdown)
    celery_priority = _celery_priority(priority)
    if task_id is not None and (bad := task_id_problem(task_id)) is not None:
        raise InvalidAgentInput(f"task_id {bad}")
    validate_input(agent_type, task_type, input_data, settings.max_input_bytes)
    if task_id is not None:  # one id, one agent type (workers/task_id_claims.py)
        task_id_claims.claim(task_id, spec.agent_type)
    options: dict[str, Any] = {}
    if celery_priority is not None:
        options["priority"] = celery_priority
    if seconds:
        options["countdown"] = seconds
    if producer is not None:
        options["producer"] = producer
    if task_id is not None:
        options["task_id"] = task_id
    result = app.tasks[task_name(spec.agent_type)].apply_async(
        kwargs={
            "task_type": task_type,
            "input_data": input_data,
            "user_id": user,
            "session_id": session,
        },
        **options,
    )
    return str(result.id)


def get_execution(task_id: str) -> dict[str, Any] | None:
    """The ``agent_executions`` row of ``task_id`` plus ``history`` (a list of
    ``{status, attempt, occurred_at, worker, detail}``, oldest first); None when unknown."""
    record = get_store().get_execution(task_id)
    details = record.get("error_details") if record else None
    if isinstance(details, dict):
        # rank: the database's merge precedence for the error (0006_record_batch.sql), not data.
        record["error_details"] = {k: v for k, v in details.items() if k != "rank"}  # type: ignore[index]
    return record
