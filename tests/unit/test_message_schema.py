"""The message schema on its own, on the raw bytes the Redis transport takes: every
mutation of issue 20 is refused with its kind and a reason naming the field, and what
the schema lets through becomes a Celery request whose times convert, whose body the
pool can pickle. Real kombu and Celery classes; no broker needed."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
from datetime import datetime
from typing import Any

import pytest
from celery.utils.time import to_utc
from celery.worker.request import Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.transport.virtual import Message

from persistence import task_ids
from tests.support.captured import CAPTURED
from workers.app import app
from workers.broker import message_check
from workers.soak import mutations

LIMIT = 1 << 20


class _Channel:  # what kombu's virtual Message asks of its channel
    def decode_body(self, body: str, encoding: str | None) -> bytes:
        import base64

        return base64.b64decode(body)


def _request(envelope: dict[str, Any]) -> Request:
    message = Message(envelope, channel=_Channel())
    message.accept = ["application/json"]
    return Request(message, app=app, task=app.tasks[message.headers["task"]])


def test_the_captured_message_passes_and_becomes_a_request() -> None:
    raw = json.dumps(CAPTURED).encode()
    env = message_check.check_envelope(raw, LIMIT)
    assert env == CAPTURED
    assert _request(env).id == CAPTURED["headers"]["id"]


@pytest.mark.parametrize("name", sorted(mutations.MUTATIONS))
def test_each_mutation_is_refused_naming_its_field(name: str) -> None:
    kind = mutations.MUTATIONS[name][1]
    with pytest.raises(message_check.Refused) as refused:
        message_check.check_envelope(mutations.mutate(name, CAPTURED), LIMIT)
    assert (refused.value.kind, name) == (kind, name), refused.value.reason
    assert refused.value.reason


def test_reasons_name_the_field() -> None:
    cases = {
        "eta_overflows_late": "header 'eta'",
        "id_with_newline": "header 'id'",
        "chain_of_numbers": "body's embed.chain[0]",
        "callbacks_without_task": "body's embed.callbacks[0]",
        "embed_unknown_key": "unknown field `retries`",
        "delivery_info_without_routing_key": "routing_key",
        "args_nested_800": "body's args",
        "id_lone_surrogate": "envelope.headers.id: contains a lone surrogate",
        "gzip_bomb": "inflates to more than",
    }
    for name, expected in cases.items():
        with pytest.raises(message_check.Refused) as refused:
            message_check.check_envelope(mutations.mutate(name, CAPTURED), LIMIT)
        assert expected in refused.value.reason, (name, refused.value.reason)


def test_a_gzip_bomb_is_stopped_at_the_limit_not_inflated_whole() -> None:
    import tracemalloc

    raw = mutations.gzip_bomb(256 << 20)(copy.deepcopy(CAPTURED))
    tracemalloc.start()
    with pytest.raises(message_check.Refused):
        message_check.check_envelope(raw, LIMIT)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * LIMIT, f"inflating took {peak} bytes for a limit of {LIMIT}"


def test_a_small_compressed_body_is_inflated_and_accepted() -> None:
    import base64
    import zlib

    env = copy.deepcopy(CAPTURED)
    env["headers"]["compression"] = "application/x-gzip"
    env["body"] = base64.b64encode(zlib.compress(base64.b64decode(env["body"]))).decode()
    message_check.check_envelope(json.dumps(env).encode(), LIMIT)


# --- the property: what passes becomes a request Celery and the pool can handle ---------
confused = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "\n", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
    | st.sampled_from(["x" * 5000, "2026-01-01T00:00:00", "a\x00b", "agents.nope"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _decoded(env: dict[str, Any]) -> dict[str, Any]:
    import base64

    out = copy.deepcopy(env)
    out["body"] = json.loads(base64.b64decode(env["body"]))
    return out


PATHS = [
    *_paths(_decoded(CAPTURED)),
    ("body", 2, "callbacks"),
    ("body", 2, "chord"),
    ("body", 2, "group_index"),
    ("headers", "compression"),
]


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    if isinstance(tree, list | dict):
        tree[path[-1]] = value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), confused), min_size=1, max_size=3))
def test_what_the_schema_lets_through_celery_can_run(changes: list[Any]) -> None:
    import base64

    tree = _decoded(CAPTURED)
    for path, value in changes:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(tree, path, value)  # (fails when an earlier change replaced the container)
    body = tree["body"]
    tree["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    try:
        env = message_check.check_envelope(json.dumps(tree).encode(), LIMIT)
    except message_check.Refused as refused:
        assert refused.kind in {"envelope", "headers", "body", "encoding", "too_large"}
        assert refused.reason
        return
    if env["headers"]["task"] not in app.tasks:
        return  # Celery's unknown-task handler: the consumer sets it aside
    req = _request(env)
    assert task_ids.is_task_id(req.id)
    for when in (req.eta, req.expires):
        if when is not None:  # what the strategy and revoke checks do with them
            assert isinstance(when, datetime)
            to_utc(when).timestamp()
    args, kwargs, embed = req._payload  # what goes to the pool child, pickled
    pickle.dumps((args, kwargs, embed, req.request_dict))
    for sig in (embed or {}).get("callbacks") or []:
        assert isinstance(sig, dict) and isinstance(sig["task"], str)


@pytest.mark.parametrize("depth", [40, 500, 5000])
def test_an_untyped_header_nested_deep_is_refused(depth: int) -> None:
    """Headers the schema does not type (stamps, tracing) reach the pool with the request:
    they are held to the same depth as the body."""
    env = copy.deepcopy(CAPTURED)
    env["headers"]["x-deep"] = "@@"
    raw = json.dumps(env).encode().replace(b'"@@"', b"[" * depth + b"]" * depth)
    with pytest.raises(message_check.Refused) as refused:
        message_check.check_envelope(raw, LIMIT)
    assert refused.value.kind == "headers", refused.value.reason


def test_headers_celery_adds_for_stamps_and_tracing_pass() -> None:
    env = copy.deepcopy(CAPTURED)
    env["headers"].update(traceparent="00-abc-def-01", stamps={"on_stamp": ["a"]})
    assert message_check.check_envelope(json.dumps(env).encode(), LIMIT)["headers"]["stamps"]
