from __future__ import annotations

import uuid

import pytest

from persistence import wire
from persistence.lifecycle import TaskStatus


def test_round_trip() -> None:
    eid = uuid.uuid4().hex
    ev = wire.transition(
        eid, "t1", "running", 2, 1_700_000_000.5, "quiz_generator", "quiz", worker="w@h"
    )
    [decoded] = wire.decode(wire.encode([ev]))
    t = wire.from_wire(decoded)
    assert (t.event_id.hex, t.status, t.attempt, t.worker) == (eid, TaskStatus.RUNNING, 2, "w@h")
    assert t.occurred_at.timestamp() == 1_700_000_000.5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b'{"a": 1}', "JSON list"),
        (b"[1, 2]", "JSON list"),
    ],
)
def test_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(wire.BadEvent, match=message):
        wire.decode(payload)


def test_missing_field_is_named() -> None:
    with pytest.raises(wire.BadEvent, match="'s'"):
        wire.from_wire({"id": uuid.uuid4().hex, "t": "x", "a": 0, "at": 1.0, "ag": "a", "tt": "b"})


def test_bad_status_is_reported() -> None:
    ev = wire.transition(uuid.uuid4().hex, "t", "exploded", 0, 1.0, "a", "b")
    with pytest.raises(wire.BadEvent, match="bad value"):
        wire.from_wire(ev)
