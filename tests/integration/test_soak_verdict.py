"""The soak's verdict on rows written the real way (``agentq_record_batch``): each kind of
damage it must catch is caught, and a right record passes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg

from persistence import wire
from persistence.sql_store import SQLStore
from tasks.registry import get_spec
from tests.support.database import libpq_url
from workers.soak.verify import expected_output, verify

SPEC = get_spec("quiz_generator")
GOOD = expected_output(SPEC.agent_type, SPEC.example_task_type, SPEC.example)
T0 = time.time()


def _record(store: SQLStore, task_id: str, steps: list[tuple[str, int, str | None]]) -> None:
    """``steps``: (status, attempt, worker); completed steps carry the agent's output."""
    events: list[dict[str, Any]] = []
    for i, (status, attempt, worker) in enumerate(steps):
        result = {"output_data": GOOD, "quality_score": 0.9} if status == "completed" else None
        events.append(
            wire.transition(
                uuid.uuid4().hex,
                task_id,
                status,
                attempt,
                T0 + i * 0.01,
                SPEC.agent_type,
                SPEC.example_task_type,
                worker=worker,
                result=result,
            )
        )
    store.record_wire(wire.encode(events))


RIGHT = [("pending", 0, None), ("queued", 0, None), ("running", 0, "w1"), ("completed", 0, "w1")]


def test_a_right_record_passes_and_each_kind_of_damage_is_named(sql_store: SQLStore) -> None:
    url = libpq_url(sql_store.url)
    ids = {name: str(uuid.uuid4()) for name in ("ok", "lost", "status", "output", "head", "dup")}
    for name, task_id in ids.items():
        if name != "lost":
            _record(sql_store, task_id, RIGHT)
    _record(sql_store, ids["ok"], [("running", 0, "w2"), ("completed", 0, "w2")])  # redelivered
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE agent_executions SET output_data = '{\"x\": 1}' WHERE task_id = %s",
            (ids["output"],),
        )
        # the row says failed though its history ends completed: not the merge of it
        conn.execute(
            "UPDATE agent_executions SET status = 'failed' WHERE task_id = %s", (ids["head"],)
        )
        # the same transition twice under another event id
        conn.execute(
            "INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at, "
            "worker, detail, recorded_at) SELECT gen_random_uuid(), task_id, status, attempt, "
            "occurred_at, worker, detail, recorded_at "
            "FROM agent_execution_events WHERE task_id = %s AND status = 'running'",
            (ids["dup"],),
        )
    published = {tid: ("completed", 0) for tid in ids.values()}
    published[ids["status"]] = ("failed", 0)  # the plan said this one must fail
    outputs = {tid: GOOD for tid in ids.values()}

    v = verify(url, published, "w9", outputs)

    assert v.lost == [ids["lost"]]
    wrong = {w["task_id"]: w["problems"] for w in v.wrong}
    assert set(wrong) == {ids["status"], ids["output"], ids["head"]}
    assert wrong[ids["status"]] == ["status completed, expected failed"]
    assert wrong[ids["output"]] == ["output is not what the agent makes of the input"]
    assert any("not the merge of its history" in p for p in wrong[ids["head"]])
    assert v.duplicates == 1
    assert v.redelivered == 2  # "ok" ran twice at attempt 0 (and is right), "dup" seems to
    assert not v.ok
    assert v.lag["p50"] is not None
