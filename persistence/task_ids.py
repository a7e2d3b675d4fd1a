"""The one rule for task ids, everywhere an id comes in.

An id is accepted by ``enqueue``, by the worker's message schema
(``workers/broker/message_schema.py``), by the recorder's strict decoder
(``persistence/wire.py``), by ``agentq status`` and by the HTTP API
(``workers/serve/api.py``) if and only if :func:`task_id_problem` finds nothing: a
string of 1 to 255 characters, every one of them printable. So no line breaks, tabs or
other control characters (a newline in an id splits log lines and answers the API could
not route), no NUL (PostgreSQL cannot store it), no lone surrogate (not UTF-8: the
record could not be written, and the task would run unrecorded).
"""

from __future__ import annotations

from typing import Any

# agent_executions.task_id is TEXT with a unique btree index (keys up to ~2.7 kB);
# Celery's ids are 36 characters, so 255 leaves room for custom ids.
MAX_TASK_ID_CHARS = 255
_SHOWN = 40


def task_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a task id (one short sentence), or None when it is one."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > MAX_TASK_ID_CHARS:
        return f"is {len(value)} characters long, over the limit of {MAX_TASK_ID_CHARS}"
    if not value.isprintable():  # control characters, NUL, lone surrogates, line breaks
        bad = next(c for c in value if not c.isprintable())
        return (
            f"contains the unprintable character U+{ord(bad):04X} "
            "(control characters, line breaks and lone surrogates are refused)"
        )
    return None


def is_task_id(value: Any) -> bool:
    return task_id_problem(value) is None


def show(value: Any) -> str:
    """A refused id in an error message: short, one line, escaped."""
    text = value if isinstance(value, str) else repr(value)
    return ascii(text[:_SHOWN]) + ("..." if len(text) > _SHOWN else "")
