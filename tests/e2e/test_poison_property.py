"""The property of issue 20, through one real worker: a captured real message with any
of its fields (envelope, properties, delivery info, headers, args, kwargs, embed)
changed to a type-confused value ends EITHER run and recorded (a final row) OR in the
dead letters: count in = recorded + dead letters, nothing else, and the worker lives.

Hypothesis draws batches of such messages (bounded: a couple of minutes); each batch is
pushed raw onto the agent queue and waited for with a generous deadline.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from persistence import task_ids
from tests.support.captured import capture_envelope
from tests.support.workers import WorkerProcess, wait_for
from workers.broker import dead_letters
from workers.settings import get_settings

pytestmark = pytest.mark.slow

QUEUE = "content_generator"
FINAL = ("completed", "failed", "cancelled")
BATCHES, BATCH = 25, 20

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(
        [
            "",
            "a\nb",
            "\ud800abc",
            "a\x00b",
            "x" * 70_000,
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "2001-01-01T00:00:00",
            "agents.no_such_agent",
            "agents.content_generator.noop",
        ]
    )
)
confused = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
) | st.integers(min_value=30, max_value=800).map(lambda depth: ("nested", depth))


def _expand(value: Any) -> Any:
    """("nested", n): a list nested n deep (drawn as a pair: hypothesis cannot print it)."""
    if isinstance(value, tuple):
        return json.loads("[" * value[1] + "]" * value[1])
    return value


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
    out = copy.deepcopy(env)
    out["body"] = json.loads(base64.b64decode(env["body"]))
    return out


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _poison(template: dict[str, Any], changes: list[tuple[Any, Any]]) -> tuple[bytes, str | None]:
    """The raw envelope, and the task id a run of it would be recorded under."""
    tree = _decoded(template)
    tid = str(uuid.uuid4())
    tree["headers"]["id"] = tree["headers"]["root_id"] = tree["properties"]["correlation_id"] = tid
    tree["properties"]["delivery_tag"] = str(uuid.uuid4())
    for path, value in changes:
        if path in (("headers", "id"), ("properties", "delivery_tag")) and isinstance(value, str):
            value = value + str(uuid.uuid4())  # still confused, never shared by two messages
        value = _expand(value)
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(tree, path, value)  # (fails when an earlier change replaced the container)
    body = tree["body"]
    with contextlib.suppress(RecursionError):
        body = json.dumps(body)
    tree["body"] = base64.b64encode(str(body).encode("utf-8", "surrogatepass")).decode()
    headers = tree.get("headers")
    run_id = headers.get("id") if isinstance(headers, dict) else None
    return json.dumps(tree).encode(), run_id if task_ids.is_task_id(run_id) else None


def _dead(r: redis.Redis) -> list[dict[str, Any]]:
    return dead_letters.DeadLetters(r).entries(dead_letters.SOURCE_MESSAGES, limit=100_000)


def _final(ids: list[str]) -> int:
    with psycopg.connect(get_settings().primary_database_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM agent_executions WHERE task_id = ANY(%s) AND status = ANY(%s)",
            (ids, list(FINAL)),
        ).fetchone()
    return int(rows[0]) if rows else 0


def test_every_mutated_message_is_recorded_or_dead_lettered(
    clean: str, redis_client: redis.Redis
) -> None:
    r = redis_client
    key, template = capture_envelope(r, QUEUE)
    paths = _paths(_decoded(template)) + [("body", 2, f) for f in ("callbacks", "chord")]
    kinds: Counter[str] = Counter()
    ran = 0
    w = WorkerProcess(
        "property", concurrency=2, env={"AGENTQ_RECORDER_PROCESS": "true"}, queues=QUEUE
    )
    w.start(timeout=60)
    try:

        @settings(
            max_examples=BATCHES,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.generate),  # no shrinking: each example is slow
            suppress_health_check=list(HealthCheck),
        )
        @given(
            st.lists(
                st.lists(st.tuples(st.sampled_from(paths), confused), max_size=2),
                min_size=BATCH,
                max_size=BATCH,
            )
        )
        def batch(changes: list[list[tuple[Any, Any]]]) -> None:
            nonlocal ran
            before = len(_dead(r))
            made = [_poison(template, c) for c in changes]
            for raw, _ in made:
                r.lpush(key, raw)
            r.lpush(f"{QUEUE}:bell", "1")
            ids = [tid for _, tid in made if tid]

            def ended() -> int:
                return len(_dead(r)) - before + _final(ids)

            wait_for(
                lambda: ended() >= len(made) or w._died(),
                timeout=180,
                what=f"{len(made)} messages to be recorded or dead-lettered",
            )
            assert not w._died(), f"the worker died:\n{w.output()[-4000:]}"
            dead = _dead(r)[before:]  # (oldest first)
            recorded = _final(ids)
            kinds.update(d["kind"] for d in dead)
            ran += recorded
            # what the schema misses, Celery raises and the consumer's catch-all keeps
            # ("other"): the class is closed only if that never happens
            assert not [d for d in dead if d["kind"] == "other"], [d["reason"] for d in dead]
            assert len(dead) + recorded == len(made), (
                f"in {len(made)}, dead letters {len(dead)}, recorded {recorded}: "
                + "\n".join(m.decode(errors="replace")[:300] for m, _ in made)
            )

        batch()
        wait_for(lambda: r.hlen("unacked") == 0, 60, what="the unacked set to empty")
    finally:
        w.stop(timeout=30)
    assert "Unrecoverable error" not in w.output()
    print(f"ran and recorded {ran}; dead letters by kind {dict(kinds)}")
