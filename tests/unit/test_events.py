from __future__ import annotations

import uuid

import pytest

from persistence.lifecycle import TaskStatus
from workers import events


def test_round_trip() -> None:
    eid = uuid.uuid4().hex
    ev = events.transition(
        eid, "t1", "running", 2, 1_700_000_000.5, "quiz_generator", "quiz", worker="w@h"
    )
    [decoded] = events.decode(events.encode([ev]))
    t = events.to_transition(decoded)
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
    with pytest.raises(events.BadEvent, match=message):
        events.decode(payload)


def test_missing_field_is_named() -> None:
    with pytest.raises(events.BadEvent, match="'s'"):
        events.to_transition(
            {"id": uuid.uuid4().hex, "t": "x", "a": 0, "at": 1.0, "ag": "a", "tt": "b"}
        )


def test_bad_status_is_reported() -> None:
    ev = events.transition(uuid.uuid4().hex, "t", "exploded", 0, 1.0, "a", "b")
    with pytest.raises(events.BadEvent, match="bad value"):
        events.to_transition(ev)
