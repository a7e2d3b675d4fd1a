"""Input checks shared by the producer (at enqueue) and the task (at run time).

What the record and the broker cannot carry is refused here, before anything is published:
:func:`check_json_value` walks the input once, iteratively, and names the JSON path of the
first value PostgreSQL's ``jsonb``, the recorder (orjson) or the broker could not take.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from tasks.registry import get_spec

#: Most dicts / lists nested inside each other in ``input_data`` (the object itself is level 1).
#: Deep input made ``json`` and pydantic raise ``RecursionError``, and orjson (the recorder)
#: refuses more than 255 levels; no agent's input needs more than a few.
MAX_INPUT_DEPTH = 32

# orjson (the recorder's encoder) refuses integers outside this range.
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1
# NUL: PostgreSQL text and jsonb cannot store it. Lone surrogates: not encodable as UTF-8.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_CHARS = 60  # how much of an offending value or key a message quotes

PathPart = str | int


class InvalidAgentInput(ValueError):
    """The input of an agent task is not acceptable; the message names the problem."""


def brief(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages (never raises)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for str() (sys.set_int_max_str_digits)
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_problem(text: str) -> str | None:
    """Why PostgreSQL could not store ``text``; None when it can."""
    found = _BAD_CHAR.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    return (
        f"contains a lone surrogate (\\u{ord(found.group()):04x}), which cannot be encoded "
        "as UTF-8 for PostgreSQL"
    )


def check_text(name: str, value: Any, max_chars: int) -> str:
    """``value`` when it is a string PostgreSQL can store in ``max_chars`` characters."""
    if not isinstance(value, str):
        raise InvalidAgentInput(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > max_chars:
        raise InvalidAgentInput(
            f"{name} is {len(value)} characters long, over the limit of {max_chars}"
        )
    problem = text_problem(value)
    if problem is not None:
        raise InvalidAgentInput(f"{name}: {problem}")
    return value


def format_path(root: str, path: tuple[PathPart, ...]) -> str:
    """``root`` + ``path`` as JSON-path-like text: ``input_data.questions[3]["a b"]``."""
    if len(path) > 10:  # a too-deep path: its ends say where it is
        return format_path(root, path[:4]) + "..." + format_path("", path[-4:])
    parts = [root]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part) and len(part) <= _SHOWN_CHARS:
            parts.append(f".{part}")
        else:
            parts.append(f"[{_quoted(part)}]")
    return "".join(parts)


def _quoted(key: str) -> str:
    """``key`` cut short and JSON-quoted in ASCII: NUL, surrogates, controls stay printable."""
    return json.dumps(key if len(key) <= _SHOWN_CHARS else key[: _SHOWN_CHARS - 3] + "...")


def _scalar_problem(value: Any) -> str | None:
    """Why a JSON leaf cannot be stored; None when it can."""
    if isinstance(value, str):
        return text_problem(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if _MIN_INT <= value <= _MAX_INT:
            return None
        return "is an integer outside the 64-bit range the recorder can encode"
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"is {value!r}, which JSON and PostgreSQL's jsonb cannot store"
    return f"is of type {type(value).__name__}, not a JSON value"


def _check_keys(value: dict[Any, Any], root: str, path: tuple[PathPart, ...]) -> None:
    """Keys must be strings PostgreSQL can store (orjson refuses non-string keys too)."""
    for key in value:
        if not isinstance(key, str):
            raise InvalidAgentInput(
                f"{format_path(root, path)}: key {brief(key)} is of type {type(key).__name__}; "
                "JSON object keys are strings"
            )
        problem = text_problem(key)
        if problem is not None:
            raise InvalidAgentInput(f"{format_path(root, (*path, key))}: the key {problem}")


def _children(
    value: dict[Any, Any] | list[Any] | tuple[Any, ...], root: str, path: tuple[PathPart, ...]
) -> list[tuple[Any, tuple[PathPart, ...]]]:
    """The items of a container with their paths; rejects a bad key."""
    if not isinstance(value, dict):
        return [(item, (*path, i)) for i, item in enumerate(value)]
    _check_keys(value, root, path)
    return [(item, (*path, key)) for key, item in value.items()]


def check_json_value(
    value: Any, root: str = "input_data", max_depth: int = MAX_INPUT_DEPTH
) -> None:
    """Reject what the record or the broker could not carry, naming its path.

    One iterative walk (so any depth is safe), in document order: containers nested more
    than ``max_depth`` levels, strings or keys with NUL or lone surrogates, non-string keys,
    NaN / infinite floats, integers beyond 64 bits and non-JSON types.
    """
    stack: list[tuple[Any, tuple[PathPart, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict | list | tuple):
            # the path has one part per container above this one
            if len(path) >= max_depth:
                raise InvalidAgentInput(
                    f"{format_path(root, path)}: nested more than {max_depth} levels deep "
                    "(dicts and lists inside each other)"
                )
            stack.extend(reversed(_children(item, root, path)))
            continue
        problem = _scalar_problem(item)
        if problem is not None:
            raise InvalidAgentInput(f"{format_path(root, path)}: {problem}")


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "input_data"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def input_size(input_data: Any) -> int:
    """Size in bytes of ``input_data`` as JSON (what travels through the broker)."""
    try:
        return len(json.dumps(input_data, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidAgentInput(f"input_data is not JSON-serialisable: {exc}") from None


def validate_input(
    agent_type: str, task_type: str, input_data: Any, max_bytes: int | None = None
) -> BaseModel:
    """The validated input model; :class:`InvalidAgentInput` (a ValueError) otherwise.

    :func:`check_json_value` runs first, before anything serialises or recurses into the
    input (the size check, the agent's pydantic model).
    """
    spec = get_spec(agent_type)
    if not isinstance(input_data, dict):
        raise InvalidAgentInput(
            f"input_data must be a JSON object, not {type(input_data).__name__}"
        )
    check_json_value(input_data)
    if task_type not in spec.task_types:
        raise InvalidAgentInput(
            f"task_type {brief(task_type)} is not supported by {agent_type}; "
            f"expected one of {', '.join(spec.task_types)}"
        )
    if max_bytes is not None:
        size = input_size(input_data)
        if size > max_bytes:
            raise InvalidAgentInput(
                f"input_data is {size} bytes, over the limit of {max_bytes} bytes "
                "(AGENTQ_MAX_INPUT_BYTES)"
            )
    try:
        return spec.input_model.model_validate(input_data)
    except ValidationError as exc:
        raise InvalidAgentInput(
            f"invalid input for {agent_type}: {describe_validation_error(exc)}"
        ) from None
