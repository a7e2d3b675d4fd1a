"""Hypothesis strategies for the wire format's strict decoder: event-shaped dicts
(a valid event of either kind with a few fields dropped or replaced by anything) and
whole stream entries as a buggy producer might write them
(tests/unit/test_wire_strict.py, tests/integration/test_recorder_poison.py)."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import strategies as st

from persistence import wire
from persistence.schema import AGENT_STATUS_VALUES, AGENT_TYPE_VALUES

NOW = time.time()

_odd_text = st.sampled_from(
    ["", "\x00", "a\x00", "\ud800", "\udc00x", "é", "x" * 300, "1e20", "running", "quiz"]
)
_text = st.text(max_size=6) | _odd_text
_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 1.5, 1e20, wire.MIN_AT, NOW, 2**63, 10_000])
    | _text
)
_json = st.recursive(
    _scalar,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3),
    max_leaves=10,
)
_transition = {
    "id": st.uuids().map(lambda u: u.hex),
    "t": st.uuids().map(str),
    "s": st.sampled_from(["pending", "queued", "running", "completed", "failed"]),
    "a": st.integers(0, 3),
    "at": st.floats(NOW - 1e6, NOW),
    "ag": st.sampled_from(AGENT_TYPE_VALUES),
    "tt": st.sampled_from(["quiz", ""]),
    "w": st.sampled_from(["w@h", None]),
    "rq": st.none() | st.dictionaries(_text, _json, max_size=2),
    "rs": st.none() | st.dictionaries(_text, _json, max_size=2),
}
_instance = {
    "w": st.sampled_from(["w@h", "celery@host.example"]),
    "types": st.lists(st.sampled_from(AGENT_TYPE_VALUES), max_size=2),
    "s": st.sampled_from(AGENT_STATUS_VALUES),
    "at": st.floats(NOW - 1e6, NOW),
}
_keys = sorted({"k", *_transition, *_instance})


@st.composite
def event_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of either kind, then a few fields dropped or replaced by anything."""
    kind = draw(st.sampled_from(["t", "i"]))
    fields = _transition if kind == "t" else _instance
    ev = {"k": kind} | {k: draw(v) for k, v in fields.items() if draw(st.integers(0, 29))}
    for key in draw(st.lists(st.sampled_from(_keys), max_size=2)):
        ev[key] = draw(_json)
    return ev


def _encode(value: Any, ascii_only: bool) -> bytes:
    """Like a buggy producer might: stdlib JSON (NaN, huge numbers) and lone
    surrogates written as escapes or as invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


entries = (
    st.binary(max_size=60)
    | st.builds(_encode, st.lists(event_shaped(), max_size=3), st.booleans())
    | st.builds(_encode, _json, st.booleans())
)
