"""How new transitions move the ``agent_instances`` counters (shared by every store)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from persistence.lifecycle import TaskStatus, Transition


@dataclass(slots=True)
class InstanceDelta:
    agent_id: str
    agent_type: str
    worker: str
    last_activity: datetime
    completed: int = 0
    failed: int = 0
    exec_time: float = 0.0


def instance_deltas(new: Iterable[Transition]) -> dict[str, InstanceDelta]:
    """Per instance touched by ``new`` (transitions not seen before) what they add."""
    out: dict[str, InstanceDelta] = {}
    for t in new:
        if t.worker is None:
            continue
        key = f"{t.agent_type}@{t.worker}"
        d = out.get(key)
        if d is None:
            d = out[key] = InstanceDelta(key, t.agent_type, t.worker, t.occurred_at)
        d.last_activity = max(d.last_activity, t.occurred_at)
        if t.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            if t.status is TaskStatus.COMPLETED:
                d.completed += 1
            else:
                d.failed += 1
            d.exec_time += float((t.result or {}).get("execution_time_seconds") or 0.0)
    return out
