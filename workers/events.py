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
    transition,
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


def instance(worker: str, agent_types: list[str], status: str, at: float) -> dict[str, Any]:
    return {"k": KIND_INSTANCE, "w": worker, "types": agent_types, "s": status, "at": at}
