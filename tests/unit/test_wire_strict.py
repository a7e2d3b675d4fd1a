"""The strict wire decoder (``persistence/wire.py``): it checks every field instead of
coercing it, and nothing but :class:`BadEvent` ever comes out of it."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from persistence import wire
from persistence.lifecycle import Transition
from persistence.schema import AGENT_TYPE_VALUES
from tests.support.wire_strategies import entries, event_shaped


def _ev(**changes: Any) -> dict[str, Any]:
    ev = wire.transition(
        uuid.uuid4().hex,
        "task-1",
        "completed",
        1,
        time.time(),
        "quiz_generator",
        "quiz",
        worker="w@h",
        request={"input_data": {"n": [1, 2.5, None, True]}},
        result={"output_data": {"ok": "yes"}, "quality_score": 0.5},
    )
    ev.update(changes)
    return {k: v for k, v in ev.items() if v is not _DROP}


_DROP = object()
NOW = time.time()


def test_a_good_event_round_trips() -> None:
    ev = _ev()
    [t] = wire.decode_entry(wire.encode([ev]))
    assert isinstance(t, Transition)
    assert wire.to_wire(t) == {**ev, "at": pytest.approx(ev["at"])}


def test_an_instance_event_is_checked_too() -> None:
    ev = wire.instance("w@h", ["quiz_generator", "code_reviewer"], "idle", NOW)
    [i] = wire.decode_entry(wire.encode([ev]))
    assert i == wire.InstanceEvent(
        "w@h", ("quiz_generator", "code_reviewer"), "idle", datetime.fromtimestamp(NOW, UTC)
    )
    for bad, field in [
        ({"types": ["nobody"]}, "'types'"),
        ({"types": "quiz_generator"}, "'types'"),
        ({"s": "running"}, "'s'"),
        ({"w": ""}, "'w'"),
        ({"at": 1e20}, "'at'"),
    ]:
        with pytest.raises(wire.BadEvent, match=field):
            wire.decode_entry(wire.encode([{**ev, **bad}]))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"at": 1e20}, "'at'"),
        ({"at": "1e20"}, "'at'"),
        ({"at": "1700000000"}, "'at'"),
        ({"at": True}, "'at'"),
        ({"at": float("nan")}, "'at'"),
        ({"at": float("inf")}, "'at'"),
        ({"at": 0}, "'at'"),
        ({"at": wire.MIN_AT - 1}, "'at'"),
        ({"at": NOW + wire.MAX_AT_AHEAD_S + 86_400}, "'at'"),
        ({"at": 253_402_300_799}, "'at'"),  # 9999-12-31: storable, never a real time
        ({"a": -1}, "'a'"),
        ({"a": True}, "'a'"),
        ({"a": 1.5}, "'a'"),
        ({"a": 2.0}, "'a'"),
        ({"a": "2"}, "'a'"),
        ({"a": wire.MAX_ATTEMPT}, "'a'"),
        ({"a": 10**30}, "'a'"),
        ({"id": "not-a-uuid"}, "'id'"),
        ({"id": 5}, "'id'"),
        ({"id": "{" + uuid.uuid4().hex + "}"}, "'id'"),
        ({"id": uuid.uuid4().hex + "\n"}, "'id'"),
        ({"s": "bogus"}, "'s'"),
        ({"s": None}, "'s'"),
        ({"ag": "nobody"}, "'ag'"),
        ({"t": ""}, "'t'"),
        ({"t": 5}, "'t'"),
        ({"t": "a\x00b"}, "'t'"),
        ({"t": "\ud800"}, "'t'"),
        ({"t": "x" * (wire.MAX_TASK_ID_CHARS + 1)}, "'t'"),
        ({"tt": ["quiz"]}, "'tt'"),
        ({"tt": "q" * (wire.MAX_TASK_TYPE_CHARS + 1)}, "'tt'"),
        ({"w": 7}, "'w'"),
        ({"w": "w" * (wire.MAX_WORKER_CHARS + 1)}, "'w'"),
        ({"rq": "input"}, "'rq'"),
        ({"rq": [1]}, "'rq'"),
        ({"rs": {"output_data": {"x": "a\x00"}}}, "'rs'"),
        ({"rs": {"output_data": {"a\x00": 1}}}, "'rs'"),
        ({"rs": {"output_data": [{"\udfff": 1}]}}, "'rs'"),
        ({"rs": {1: "int key"}}, "'rs'"),
        ({"rs": {"quality_score": float("nan")}}, "'rs'"),
        ({"rs": {"big": 2**64}}, "'rs'"),
        ({"rs": {"set": {1, 2}}}, "'rs'"),
        ({"t": _DROP}, "lacks field 't'"),
        ({"at": _DROP}, "lacks field 'at'"),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(wire.BadEvent, match=field):
        wire.from_wire(_ev(**change))


def test_an_unknown_kind_is_bad() -> None:
    with pytest.raises(wire.BadEvent, match="unknown event kind 'x'"):
        wire.decode_entry(wire.encode([_ev(k="x")]))


def test_nesting_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(wire.MAX_DEPTH - 1):
        deep = [deep]
    wire.from_wire(_ev(rq={"input_data": deep}))  # rq and the lists: MAX_DEPTH levels
    with pytest.raises(wire.BadEvent, match=r"'rq'.*nested deeper"):
        wire.from_wire(_ev(rq={"input_data": [deep]}))


def test_the_bounds() -> None:
    low, high = wire.at_bounds()
    assert datetime.fromtimestamp(low, UTC) == datetime(2000, 1, 1, tzinfo=UTC)
    assert 4.9 < (high - time.time()) / (365.25 * 86_400) < 5.1
    wire.from_wire(_ev(at=low, a=0))
    wire.from_wire(_ev(at=int(time.time()), a=wire.MAX_ATTEMPT - 1, tt="", w=None))
    wire.from_wire(_ev(id=str(uuid.uuid4()), rq=None, rs=None))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'[{"t": "\\ud800"}]', "not JSON"),
        (b"[1e400]", "not JSON"),
        (b'{"k": "t"}', "JSON list"),
        (b"[[]]", "JSON list"),
        (b"null", "JSON list"),
    ],
)
def test_bad_entries(payload: bytes, message: str) -> None:
    with pytest.raises(wire.BadEvent, match=message):
        wire.decode_entry(payload)


@pytest.mark.parametrize("payload", [b"", b"{}", b"5", b"nu", b' "[]" ', b"[1"])
def test_joining_refuses_what_is_not_bracketed_like_a_list(payload: bytes) -> None:
    """They used to vanish from the batch (an empty or 2-byte payload was skipped)."""
    good = wire.encode([_ev()])
    with pytest.raises(wire.BadEvent, match="not a JSON list"):
        wire.join_entries([good, payload])


def test_joining_keeps_every_event() -> None:
    a, b = wire.encode([_ev(), _ev()]), wire.encode([_ev()])
    assert json.loads(wire.join_entries([a, b" [] ", b])) == json.loads(a) + json.loads(b)


# --- any input: a list of checked events, or BadEvent -----------------------------------
def _is_valid(ev: Transition | wire.InstanceEvent) -> bool:
    low, high = wire.at_bounds()
    if isinstance(ev, wire.InstanceEvent):
        return low <= ev.at.timestamp() <= high and set(ev.agent_types) <= set(AGENT_TYPE_VALUES)
    wire.encode([wire.to_wire(ev)])  # the store re-encodes it: must not raise
    return (
        0 <= ev.attempt < wire.MAX_ATTEMPT
        and low <= ev.occurred_at.timestamp() <= high
        and 0 < len(ev.task_id) <= wire.MAX_TASK_ID_CHARS
        and "\x00" not in ev.task_id
        and ev.agent_type in AGENT_TYPE_VALUES
        and (ev.request is None or isinstance(ev.request, dict))
        and (ev.result is None or isinstance(ev.result, dict))
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=entries)
def test_any_entry_decodes_to_checked_events_or_bad_event(payload: bytes) -> None:
    try:
        decoded = wire.decode_entry(payload)
    except wire.BadEvent as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(_is_valid(ev) for ev in decoded)


@settings(max_examples=200, deadline=None)
@given(ev=event_shaped())
def test_any_event_dict_is_checked_or_bad(ev: dict[str, Any]) -> None:
    """Also without JSON in between (the in-memory store, tests): values JSON cannot
    carry (NaN, huge integers, surrogates) are refused, never passed on."""
    try:
        t = wire.from_wire(ev)
    except wire.BadEvent:
        return
    assert _is_valid(t)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in ev.values())
