"""The demo's batch: every agent type with its example input, plus honest failures and retries.

A repeating pattern of eight slots, so any batch of eight or more holds each kind:
- ``ok``: an agent's example input through the producer API (completes);
- ``retry``: the agent's retry drill failing once, then the real agent (completes on
  attempt 2);
- ``exhausted``: the drill failing every attempt until retries run out (fails);
- ``bad_content``: a quiz on text with no usable facts; it passes input validation,
  so the handler fails it at run time with the reason recorded (fails).
Agent types rotate through the ``ok`` and ``retry`` slots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasks.registry import load_agents
from workers.demo.drills import DRILL_MAX_RETRIES, drill_name

PATTERN = ("ok", "ok", "retry", "ok", "bad_content", "ok", "exhausted", "ok")
EXPECTED_STATUS = {"ok": "completed", "retry": "completed", "exhausted": "failed"}
EXPECTED_STATUS["bad_content"] = "failed"
NO_FACTS = "it is what it is, and so it goes on and on. we do it so."


@dataclass(frozen=True, slots=True)
class Job:
    kind: str
    agent_type: str
    task_type: str
    input_data: dict[str, Any]
    fail_attempts: int | None = None  # set for retry drills

    @property
    def expected_status(self) -> str:
        return EXPECTED_STATUS[self.kind]


def plan_batch(n: int) -> list[Job]:
    specs = [s for _, s in sorted(load_agents().items())]
    jobs: list[Job] = []
    rotation = 0
    for i in range(n):
        kind = PATTERN[i % len(PATTERN)]
        if kind == "bad_content":
            jobs.append(Job(kind, "quiz_generator", "quiz", {"content": NO_FACTS}))
            continue
        spec = specs[rotation % len(specs)]
        rotation += 1
        fails = {"retry": 1, "exhausted": DRILL_MAX_RETRIES + 1}.get(kind)
        jobs.append(Job(kind, spec.agent_type, spec.example_task_type, spec.example, fails))
    return jobs


def enqueue_batch(
    jobs: list[Job], session_id: str, on_published: Callable[[], None] | None = None
) -> list[str]:
    """Publish ``jobs`` over one broker connection; returns their task ids in order."""
    from tasks.validation import validate_input
    from workers.app import app
    from workers.producer import enqueue

    ids: list[str] = []
    with app.producer_or_acquire() as producer:
        for job in jobs:
            if job.fail_attempts is None:
                ids.append(
                    enqueue(
                        job.agent_type,
                        job.task_type,
                        job.input_data,
                        session_id=session_id,
                        producer=producer,
                    )
                )
            else:
                validate_input(job.agent_type, job.task_type, job.input_data)
                result = app.signature(drill_name(job.agent_type)).apply_async(
                    kwargs={
                        "task_type": job.task_type,
                        "input_data": job.input_data,
                        "session_id": session_id,
                        "fail_attempts": job.fail_attempts,
                    },
                    producer=producer,
                )
                ids.append(str(result.id))
            if on_published is not None:
                on_published()
    return ids
