"""The query parameters of the JSON API (``workers/serve/api.py``), checked before anything
is read: every check raises :class:`BadRequest`, a 400 whose message names the parameter.

Numbers are ASCII digits of bounded length, matched by a regular expression before
``int()`` or ``float()`` sees them: ``str.isdigit`` is true of ``²`` and of Arabic-Indic
digits, which ``int()`` then refuses or reads as Western ones, and ``int()`` of 5000
digits raises. A task id (in a path or inside a cursor) passes :func:`check_task_id`,
the one rule of this API.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs

from persistence import browse, task_ids
from persistence.schema import AGENT_TYPE_VALUES

MAX_CURSOR = 1024  # encode_cursor's are ~100 characters; nothing longer is decoded
_WHOLE = re.compile(r"[0-9]{1,9}")  # [0-9], not \d: \d is every script's digits
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


class BadRequest(Exception):
    """400: the message names the parameter."""


def parse(query: str) -> dict[str, str]:
    """The parameters of ``query``; a repeated one is 400, an empty value is not given."""
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise BadRequest(f"query string unreadable: {exc}") from None
    out = {}
    for key, values in parsed.items():
        if len(values) > 1:
            raise BadRequest(f"parameter {key[:80]!r} given {len(values)} times")
        if values[0] != "":
            out[key] = values[0]
    return out


def only(params: dict[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise BadRequest(f"unknown parameter {unknown[0][:80]!r} (allowed: {allowed})")


def choice(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} {value[:80]!r} is not one of: {', '.join(allowed)}")
    return value


def uuid_of(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequest(f"{name} {value[:80]!r} is not a UUID") from None


def whole(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if _WHOLE.fullmatch(value) is None or not low <= int(value) <= high:
        raise BadRequest(
            f"{name} must be a whole number from {low} to {high} in ASCII digits,"
            f" not {value[:40]!r}"
        )
    return int(value)


def hours(params: dict[str, str], default: float, high: float) -> float:
    value = params.get("hours")
    if value is None:
        return default
    if _DECIMAL.fullmatch(value) is None or not 0 < float(value) <= high:
        raise BadRequest(
            f"hours must be a number above 0 and at most {high:g} (ASCII digits, an optional"
            f" decimal point), not {value[:40]!r}"
        )
    return float(value)


def agent_id(params: dict[str, str]) -> str | None:
    value = params.get("agent_id")
    if value is None:
        return None
    agent_type, at, worker = value.partition("@")
    if not at or agent_type not in AGENT_TYPE_VALUES or not printable(worker, 255):
        raise BadRequest(
            f"agent_id {value[:80]!r} is not <agent_type>@<worker> with a known agent type"
        )
    return value


def cursor(params: dict[str, str], name: str) -> browse.Cursor | None:
    """The key of a ``next_before`` this API returned; anything else is 400 naming it."""
    value = params.get(name)
    if value is None:
        return None
    if len(value) > MAX_CURSOR:
        raise BadRequest(f"{name}: not a cursor this API returned (longer than {MAX_CURSOR})")
    try:
        at, task_id = browse.decode_cursor(value)
        check_task_id(task_id, f"{name}: the cursor's task id")
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from None
    return at, task_id


def check_task_id(value: str, what: str = "task_id") -> str:
    """``value`` if it is a task id, else 400: the one rule of ``persistence/task_ids.py``
    (1..255 printable characters: no NUL, newline or lone surrogate), as ``enqueue``,
    the message schema, the recorder and ``agentq status`` apply it."""
    problem = task_ids.task_id_problem(value)
    if problem is not None:
        raise BadRequest(f"{what} {value[:80]!r} is not a task id: it {problem}")
    return value


def printable(text: str, max_len: int) -> bool:
    return 0 < len(text) <= max_len and text.isprintable()
