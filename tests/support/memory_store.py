"""An in-memory store implementing :class:`persistence.store.Store` for unit tests.

It applies the same lifecycle rule (:func:`persistence.lifecycle.merge`) in the
same batch shape as the SQL store, so a unit test of the recorder or the hooks
exercises the real semantics without a database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from persistence import wire
from persistence.errors import DataRejected
from persistence.lifecycle import Execution, Transition, merge, patches
from persistence.store import RecordResult, agent_id
from tests.support.instances import instance_deltas


class InMemoryStore:
    def __init__(self) -> None:
        self.executions: dict[str, Execution] = {}
        self.events: dict[uuid.UUID, Transition] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, transitions: Sequence[Transition]) -> RecordResult:
        with self._lock:
            new = []
            for t in transitions:
                if t.event_id not in self.events:
                    self.events[t.event_id] = t
                    new.append(t)
            for key, d in instance_deltas(new).items():
                inst = self._instance(key, d.agent_type, d.worker)
                inst["total_tasks_completed"] += d.completed
                inst["total_tasks_failed"] += d.failed
                inst["total_execution_time"] += d.exec_time
                inst["last_activity"] = max(inst["last_activity"], d.last_activity)
            created = updated = 0
            for task_id, p in patches(new).items():
                row = self.executions.get(task_id)
                created, updated = created + (row is None), updated + (row is not None)
                self.executions[task_id] = merge(row, p)
            return RecordResult(len(transitions), len(new), created, updated)

    def _instance(self, key: str, agent_type: str, worker: str) -> dict[str, Any]:
        return self.instances.setdefault(
            key,
            {
                "agent_id": key,
                "agent_type": agent_type,
                "worker": worker,
                "status": "idle",
                "total_tasks_completed": 0,
                "total_tasks_failed": 0,
                "total_execution_time": 0.0,
                "last_activity": datetime.now(UTC),
                "last_heartbeat": datetime.now(UTC),
            },
        )

    def record_wire(self, batch: bytes) -> RecordResult:
        try:
            transitions = [wire.from_wire(ev) for ev in wire.decode(batch)]
        except wire.BadEvent as exc:
            raise DataRejected(str(exc)) from None
        return self.record(transitions)

    def set_instances_status(
        self,
        worker: str,
        agent_types: Sequence[str],
        status: str,
        at: datetime,
        configuration: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            for a in agent_types:
                inst = self._instance(agent_id(a, worker), a, worker)
                inst.update(status=status, last_activity=at, configuration=configuration or {})

    def heartbeat(self, worker: str, agent_types: Sequence[str]) -> None:
        with self._lock:
            for a in agent_types:
                inst = self.instances.get(agent_id(a, worker))
                if inst is not None:
                    inst["last_heartbeat"] = datetime.now(UTC)
                    if inst["status"] == "offline":
                        inst["status"] = "idle"

    def get_execution(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self.executions.get(task_id)
            if row is None:
                return None
            out = asdict(row)
            history = sorted(
                (t for t in self.events.values() if t.task_id == task_id),
                key=lambda t: (t.occurred_at, t.key[1], str(t.event_id)),
            )
        out["history"] = [
            {
                "status": t.status.value,
                "attempt": t.attempt,
                "occurred_at": t.occurred_at,
                "worker": t.worker,
            }
            for t in history
        ]
        return out

    def close(self) -> None:
        pass
