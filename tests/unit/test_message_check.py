"""The broker-message check against arbitrary messages: it never raises, and whatever it
lets through Celery can turn into a request without raising (the property that keeps a
worker alive). Real kombu messages and Celery's own Request class; no broker needed."""

from __future__ import annotations

import json
from typing import Any

from celery.worker.request import Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.message import Message

from workers.app import app
from workers.broker import message_check

TASK = "agents.content_generator"
LIMIT = 1 << 20

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
good_headers = {"task": TASK, "id": "7f4b1d1e-0000-4000-8000-000000000001", "retries": 0}
header_values = {
    "task": st.sampled_from([TASK, "agents.nope", ""]) | json_values,
    "id": st.uuids().map(str) | json_values,
    "retries": st.integers(-2, 20_000) | json_values,
    "timelimit": st.tuples(
        st.none() | st.floats(allow_nan=True), st.none() | st.integers(-5, 10)
    ).map(list)
    | json_values,
    "eta": st.datetimes().map(lambda d: d.isoformat()) | st.text(max_size=30) | json_values,
    "expires": st.datetimes().map(lambda d: d.isoformat()) | json_values,
}


@st.composite
def headers(draw: st.DrawFn) -> Any:
    # (headers that are not an object never reach the check: kombu cannot build a
    # Message of them, and the Redis transport sets them aside; see the e2e test)
    h = dict(good_headers)
    for name in draw(st.lists(st.sampled_from(sorted(header_values)), unique=True, max_size=3)):
        if draw(st.booleans()):
            h[name] = draw(header_values[name])
        else:
            h.pop(name, None)
    return h


bodies = (
    st.tuples(
        st.lists(json_values, max_size=2),
        st.dictionaries(st.text(max_size=5), json_values),
        st.none(),
    ).map(lambda t: json.dumps(list(t)).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=40)
)


def _message(h: Any, body: bytes, content_type: str) -> Message:
    m = Message(
        body=body,
        content_type=content_type,
        content_encoding="utf-8",
        headers=h,
        delivery_info={"routing_key": "content_generator", "exchange": ""},
        properties={},
    )
    m.accept = ["application/json"]
    return m


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=headers(),
    body=bodies,
    content_type=st.sampled_from(["application/json", "application/x-python-serialize", "text/x"]),
)
def test_what_the_check_lets_through_becomes_a_request(
    h: Any, body: bytes, content_type: str
) -> None:
    found = message_check.problem(_message(h, body, content_type), LIMIT)
    if found is not None:
        kind, reason = found
        assert kind in {"headers", "body", "encoding", "too_large"} and reason
        return
    message = _message(h, body, content_type)
    if h["task"] not in app.tasks:
        return  # Celery's unknown-task handler takes it (the consumer sets it aside)
    req = Request(message, app=app, task=app.tasks[h["task"]])
    args, kwargs, _embed = message.payload
    assert isinstance(args, list) and isinstance(kwargs, dict)
    assert len(req.time_limits) == 2
    assert req.id and isinstance(req.id, str)
    _ = (req.eta, req.expires, req.request_dict.get("retries"))


def test_each_header_problem_is_named() -> None:
    cases = {
        "timelimit": ("abc", "'timelimit'"),
        "retries": ("many", "'retries'"),
        "eta": ("soon", "'eta'"),
        "id": (None, "'id'"),
    }
    for name, (value, expected) in cases.items():
        h = {**good_headers, name: value}
        found = message_check.problem(_message(h, b"[[], {}, null]", "application/json"), LIMIT)
        assert found is not None and found[0] == "headers" and expected in found[1], (name, found)


def test_an_oversized_body_is_refused_before_it_is_decoded() -> None:
    found = message_check.problem(_message(dict(good_headers), b"x" * 100, "text/x"), 99)
    assert found == ("too_large", "message body of 100 bytes is over the limit of 99")


def test_a_good_message_passes() -> None:
    body = json.dumps([[], {"task_type": "article", "input_data": {}}, None]).encode()
    assert (
        message_check.problem(_message(dict(good_headers), body, "application/json"), LIMIT) is None
    )
