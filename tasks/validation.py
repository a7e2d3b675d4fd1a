"""Input checks shared by the producer (at enqueue) and the task (at run time)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from tasks.registry import get_spec


class InvalidAgentInput(ValueError):
    """The input of an agent task is not acceptable; the message names the problem."""


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
    """The validated input model; :class:`InvalidAgentInput` (a ValueError) otherwise."""
    spec = get_spec(agent_type)
    if not isinstance(input_data, dict):
        raise InvalidAgentInput(
            f"input_data must be a JSON object, not {type(input_data).__name__}"
        )
    if task_type not in spec.task_types:
        raise InvalidAgentInput(
            f"task_type {task_type!r} is not supported by {agent_type}; "
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
