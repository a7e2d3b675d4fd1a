"""What an agent is: its spec, its result, its retryable error; and the registration
each agent module makes at import (``register``).

An agent handler is a plain function behind a validated input model. It takes the
task's ``task_type`` and its validated input, and returns an :class:`AgentResult`
(an output model and a quality score in [0, 1]). Handlers are deterministic, do
no I/O and never sleep: the Celery task around them (``tasks.base``) does the
retrying, the time limits and the recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from persistence.schema import AGENT_TYPE_VALUES

# The ``agent_type`` enum of the database schema, in its order (one source: the schema).
AGENT_TYPES: tuple[str, ...] = AGENT_TYPE_VALUES


class TransientAgentError(Exception):
    """A failure worth retrying (a flaky dependency, a timeout): the task retries it
    with exponential backoff and jitter. Any other exception fails the execution."""


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a handler returns: its output model and a quality score in [0, 1]."""

    output: BaseModel
    quality_score: float


Handler = Callable[[str, Any], AgentResult]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Everything the platform needs to know about one agent type."""

    agent_type: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    handler: Handler
    task_types: tuple[str, ...]
    example: dict[str, Any]
    example_task_type: str
    soft_time_limit: float = 60.0
    time_limit: float = 90.0
    max_retries: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    """Add an agent type to the registry (done by each agent module at import)."""
    if spec.agent_type not in AGENT_TYPES:
        raise ValueError(f"unknown agent_type {spec.agent_type!r}; expected one of {AGENT_TYPES}")
    _REGISTRY[spec.agent_type] = spec
    return spec


def registered() -> dict[str, AgentSpec]:
    """The agent types registered so far, by name."""
    return dict(_REGISTRY)
