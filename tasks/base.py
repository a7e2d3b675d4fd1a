"""The one base of every agent task: validation, retry with backoff, quality score.

The task body is the same for every agent type: validate the input against the
agent's model, call the handler, check the quality score, return
``{"output_data", "quality_score"}``. A :class:`TransientAgentError` is retried with
exponential backoff and full jitter; anything else fails the execution with its
reason (recorded by the hooks). Nothing here touches the database.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Task
from celery.utils.time import get_exponential_backoff_interval

from tasks.registry import TransientAgentError, get_spec
from tasks.validation import InvalidAgentInput, validate_input


class AgentError(RuntimeError):
    """A handler broke its contract (for example a quality score outside [0, 1])."""


class AgentTask(Task):
    """Base class of agent tasks; ``agent_type`` is set per task."""

    abstract = True
    agent_type: str = ""
    #: Exponential backoff for transient errors: factor (s) and cap (s).
    retry_backoff_factor: float = 2.0
    retry_backoff_max: float = 600.0
    #: Bad input never gets better by retrying.
    dont_autoretry_for = (InvalidAgentInput,)

    def backoff(self) -> float:
        """Seconds to wait before the next attempt: full-jitter exponential backoff."""
        return float(
            get_exponential_backoff_interval(
                factor=self.retry_backoff_factor,
                retries=self.request.retries,
                maximum=self.retry_backoff_max,
                full_jitter=True,
            )
        )

    def run_agent(self, task_type: str, input_data: Any) -> dict[str, Any]:
        spec = get_spec(self.agent_type)
        data = validate_input(self.agent_type, task_type, input_data)
        try:
            result = spec.handler(task_type, data)
        except TransientAgentError as exc:
            raise self.retry(exc=exc, countdown=self.backoff()) from exc
        score = float(result.quality_score)
        if math.isnan(score) or not 0.0 <= score <= 1.0:
            raise AgentError(f"{self.agent_type} returned quality_score {score}, outside [0, 1]")
        return {"output_data": result.output.model_dump(mode="json"), "quality_score": score}
