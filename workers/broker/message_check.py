"""What is wrong with a broker message, before Celery turns it into a request.

Celery trusts the headers and the body of a task message (protocol 2): a ``timelimit``
that is not a pair, a body that is not ``[args, kwargs, embed]``, a ``retries`` that is
not a number raise deep inside the worker, some in its event loop, where they end the
worker. :func:`problem` checks what Celery will read, cheaply (the body is decoded once:
kombu caches it for Celery's own use), and names what is wrong.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from persistence.formatting import one_line

MAX_TASK_ID = 255  # agent_executions.task_id
MAX_RETRIES = 10_000

# kinds of poison (the ``kind`` of a dead letter)
ENVELOPE, ENCODING, BODY, HEADERS, UNKNOWN_TASK, TOO_LARGE, OTHER = (
    "envelope",
    "encoding",
    "body",
    "headers",
    "unknown_task",
    "too_large",
    "other",
)

Problem = tuple[str, str]  # (kind, reason)


def problem(message: Any, max_bytes: int) -> Problem | None:
    """``(kind, reason)`` when ``message`` cannot be run as a task, else None."""
    size = len(message.body or b"")
    if size > max_bytes:
        return TOO_LARGE, f"message body of {size} bytes is over the limit of {max_bytes}"
    headers = message.headers
    if not isinstance(headers, dict):
        return HEADERS, f"headers are a {type(headers).__name__}, not an object"
    if "task" not in headers:
        return HEADERS, "no 'task' header: not a Celery task message (protocol 2)"
    return _header_problem(headers) or _body_problem(message)


def _header_problem(h: dict[str, Any]) -> Problem | None:
    reason = (
        _check_str("task", h.get("task"), 1024)
        or _check_str("id", h.get("id"), MAX_TASK_ID)
        or _check_retries(h.get("retries"))
        or _check_timelimit(h.get("timelimit"))
        or _check_time("eta", h.get("eta"))
        or _check_time("expires", h.get("expires"))
    )
    return (HEADERS, reason) if reason else None


def _check_str(name: str, value: Any, max_len: int) -> str | None:
    if not isinstance(value, str) or not value:
        return f"header {name!r} must be a non-empty string, not {_show(value)}"
    if len(value) > max_len:
        return f"header {name!r} is {len(value)} characters long (at most {max_len})"
    if "\x00" in value:
        return f"header {name!r} contains a NUL character"
    return None


def _check_retries(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_RETRIES:
        return f"header 'retries' must be an integer 0-{MAX_RETRIES - 1}, not {_show(value)}"
    return None


def _finite_or_none(v: Any) -> bool:
    if v is None:
        return True
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _check_timelimit(value: Any) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(_finite_or_none(v) for v in value)
    ):
        return f"header 'timelimit' must be [soft, hard] seconds (or nulls), not {_show(value)}"
    return None


def _check_time(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
        when.timestamp()  # out-of-range times fail here, not later in the event loop
    except (TypeError, ValueError, OverflowError, OSError):
        return f"header {name!r} must be an ISO 8601 time, not {_show(value)}"
    return None


def _body_problem(message: Any) -> Problem | None:
    try:
        body = message.decode()
    except Exception as exc:  # any codec, compression or content-type failure
        return ENCODING, f"body cannot be decoded ({message.content_type}): {one_line(exc)}"
    if not isinstance(body, list | tuple) or len(body) != 3:
        return BODY, f"body must be [args, kwargs, embed], not {_show(body)}"
    args, kwargs, embed = body
    if not isinstance(args, list | tuple):
        return BODY, f"body's args must be a list, not {_show(args)}"
    if not isinstance(kwargs, dict):
        return BODY, f"body's kwargs must be an object, not {_show(kwargs)}"
    if embed is not None and not isinstance(embed, dict):
        return BODY, f"body's embed must be an object or null, not {_show(embed)}"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
