"""The agent registry: every agent type there is, looked up by name.

Importing this module imports every agent module (``tasks/agents``), and each registers
its :class:`~tasks.spec.AgentSpec` (``tasks/spec.py``); the arrows point one way:
registry → agents → spec.
"""

from __future__ import annotations

from tasks import agents  # noqa: F401  (importing the agents registers them)
from tasks.spec import (
    AGENT_TYPES,
    AgentResult,
    AgentSpec,
    Handler,
    TransientAgentError,
    register,
    registered,
)

__all__ = [
    "AGENT_TYPES",
    "AgentResult",
    "AgentSpec",
    "Handler",
    "TransientAgentError",
    "get_spec",
    "load_agents",
    "register",
]


def load_agents() -> dict[str, AgentSpec]:
    """Every registered agent type's spec, by name."""
    return registered()


def get_spec(agent_type: str) -> AgentSpec:
    """The spec of ``agent_type``; ``ValueError`` naming the problem otherwise."""
    specs = load_agents()
    if agent_type in specs:
        return specs[agent_type]
    if agent_type in AGENT_TYPES:
        raise ValueError(
            f"agent_type {agent_type!r} is not available yet: "
            f"available are {', '.join(sorted(specs))}"
        )
    raise ValueError(f"unknown agent_type {agent_type!r}; expected one of {', '.join(AGENT_TYPES)}")
