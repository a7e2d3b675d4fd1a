"""The one base of every agent task: validation, retry with backoff, quality score.

The task body is the same for every agent type: validate the input against the
agent's model, call the handler, check the quality score, return
``{"output_data", "quality_score"}``. A :class:`TransientAgentError` is retried with
exponential backoff and full jitter; anything else fails the execution with its
reason (recorded by the hooks). Nothing here touches the database.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar

from celery import Task

from tasks.registry import TransientAgentError, get_spec
from tasks.validation import InvalidAgentInput, validate_input


class AgentError(RuntimeError):
    """A handler broke its contract (for example a quality score outside [0, 1])."""


DEFAULT_BACKOFF_MAX = 600.0


class AgentTask(Task):
    """Base class of agent tasks; ``agent_type`` is set per task."""

    abstract = True
    agent_type: str = ""
    #: Exponential backoff for transient errors: factor (s) and cap (s).
    retry_backoff_factor: float = 2.0

    @property
    def retry_backoff_max(self) -> float:
        """``AGENTQ_RETRY_BACKOFF_MAX`` (the app's ``agentq_retry_backoff_max``; 600 when
        the app does not say); a subclass may set a number instead (the demo's drills)."""
        return float(self.app.conf.get("agentq_retry_backoff_max") or DEFAULT_BACKOFF_MAX)

    #: Bad input never gets better by retrying.
    dont_autoretry_for = (InvalidAgentInput,)

    #: How long a retry's publish rides out a broker restart. Celery drops the task
    #: (Reject, requeue=False: recorded failed) when publishing its retry fails, and its
    #: default policy gives up after about 0.6 s.
    retry_publish_policy: ClassVar[dict[str, float]] = {
        "max_retries": 20,
        "interval_start": 0.5,
        "interval_step": 0.5,
        "interval_max": 2.0,
    }

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("retry_policy", self.retry_publish_policy)
        return super().retry(*args, **kwargs)

    def backoff(self) -> float:
        """Seconds to wait before the next attempt: full-jitter exponential backoff."""
        # Not celery's get_exponential_backoff_interval: its jitter is random.randrange,
        # which rejects a fractional factor (and any float on Python 3.12+).
        ceiling = min(self.retry_backoff_max, self.retry_backoff_factor * 2**self.request.retries)
        return random.uniform(0, ceiling)

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
        # quality_score first: Flower shows the result's repr cut at 1 KB.
        return {"quality_score": score, "output_data": result.output.model_dump(mode="json")}
