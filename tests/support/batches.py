"""Deterministic lifecycle batches: one execution's transitions, as a worker records them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from persistence.lifecycle import TaskStatus, Transition

S = TaskStatus


def task_transitions(
    task_id: str,
    worker: str = "w1",
    t0: datetime | None = None,
    *,
    ending: TaskStatus = S.COMPLETED,
    agent_type: str = "quiz_generator",
) -> list[Transition]:
    """pending, queued, running, ``ending`` of attempt 0 (stable event ids)."""
    t0 = t0 or datetime.now(UTC) - timedelta(minutes=1)
    out = []
    for i, status in enumerate([S.PENDING, S.QUEUED, S.RUNNING, ending]):
        terminal = i == 3
        out.append(
            Transition(
                event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{task_id}/{i}"),
                task_id=task_id,
                status=status,
                attempt=0,
                occurred_at=t0 + timedelta(seconds=i),
                agent_type=agent_type,
                task_type="quiz",
                worker=worker if i >= 2 else None,
                request={"input_data": {"n": 3}, "session_id": "s1"} if i == 0 else None,
                result=(
                    {
                        "output_data": {"ok": True},
                        "quality_score": 0.8,
                        "execution_time_seconds": 1.5,
                    }
                    if terminal and status is S.COMPLETED
                    else {"error_message": "boom", "error_type": "ValueError"}
                    if terminal
                    else None
                ),
            )
        )
    return out


def _result(status: TaskStatus) -> dict[str, object]:
    if status is S.COMPLETED:
        return {"output_data": {"ok": True}, "quality_score": 0.8, "execution_time_seconds": 1.5}
    return {"error_message": "boom", "error_type": "ValueError"}
