"""Lifecycle events as the hooks build them, in the wire format of ``persistence/wire.py``.

Hooks build small dicts (cheap on the hot path: no objects, no validation). One stream
entry holds a JSON list of events, so a producer writes pending + queued in one XADD;
the recorder hands entries to the store as they are, and decodes them only to isolate
a batch the database rejected.
"""

from __future__ import annotations

from typing import Any

from persistence.wire import (
    KIND_INSTANCE,
    KIND_TRANSITION,
    BadEvent,
    decode,
    encode,
)
from persistence.wire import from_wire as to_transition

__all__ = [
    "KIND_INSTANCE",
    "KIND_TRANSITION",
    "BadEvent",
    "decode",
    "encode",
    "instance",
    "to_transition",
    "transition",
]


def transition(
    event_id: str,
    task_id: str,
    status: str,
    attempt: int,
    at: float,
    agent_type: str,
    task_type: str,
    worker: str | None = None,
    request: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "k": KIND_TRANSITION,
        "id": event_id,
        "t": task_id,
        "s": status,
        "a": attempt,
        "at": at,
        "ag": agent_type,
        "tt": task_type,
    }
    if worker is not None:
        ev["w"] = worker
    if request is not None:
        ev["rq"] = request
    if result is not None:
        ev["rs"] = result
    return ev


def instance(worker: str, agent_types: list[str], status: str, at: float) -> dict[str, Any]:
    return {"k": KIND_INSTANCE, "w": worker, "types": agent_types, "s": status, "at": at}
