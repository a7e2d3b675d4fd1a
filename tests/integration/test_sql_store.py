"""The lifecycle rule in PostgreSQL: the SQL store agrees with the reference fold
for every order, duplication and batching of valid transition sequences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence.errors import DatabaseUnavailable
from persistence.lifecycle import TaskStatus, Transition, fold
from persistence.sql_store import SQLStore
from tests.support.sequences import batches, shuffled_with_duplicates, valid_sequences

FIELDS = [
    "status",
    "retry_count",
    "status_at",
    "created_at",
    "enqueued_at",
    "started_at",
    "completed_at",
    "worker",
    "input_data",
    "output_data",
    "quality_score",
    "execution_time_seconds",
    "error_message",
    "error_type",
    "session_id",
    "priority",
    "max_retries",
    "attempts",
]


def _expected(seq: list[Transition]) -> dict[str, object]:
    row = fold(seq)
    assert row is not None
    out = {f: getattr(row, f) for f in FIELDS}
    out["status"] = row.status.value
    return out


def _actual(store: SQLStore, task_id: str) -> dict[str, object]:
    rec = store.get_execution(task_id)
    assert rec is not None
    return {f: rec[f] for f in FIELDS}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sql_rows_match_the_reference_for_any_order_and_batching(
    sql_store: SQLStore, data: st.DataObject
) -> None:
    seq = data.draw(valid_sequences(task_id=str(uuid.uuid4())))
    for batch in data.draw(batches(data.draw(shuffled_with_duplicates(seq)))):
        sql_store.record(batch)
    assert _actual(sql_store, seq[0].task_id) == _expected(seq)
    history = sql_store.get_execution(seq[0].task_id)["history"]  # type: ignore[index]
    assert len(history) == len({t.event_id for t in seq})
    assert [h["occurred_at"] for h in history] == sorted(t.occurred_at for t in seq)


def _t(task_id: str, status: str, attempt: int, sec: float, **kw: object) -> Transition:
    return Transition(
        uuid.uuid4(),
        task_id,
        TaskStatus(status),
        attempt,
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=sec),
        "quiz_generator",
        "quiz",
        **kw,  # type: ignore[arg-type]
    )


def test_many_executions_in_one_batch_and_instance_counters(sql_store: SQLStore) -> None:
    batch = []
    for i in range(200):
        tid = f"t{i}"
        final = "completed" if i % 4 else "failed"
        batch += [
            _t(tid, "pending", 0, 0, request={"input_data": {"i": i}}),
            _t(tid, "queued", 0, 0.1),
            _t(tid, "running", 0, 1, worker="w1@h"),
            _t(
                tid,
                final,
                0,
                2,
                worker="w1@h",
                result={"execution_time_seconds": 1.0, "quality_score": 0.5},
            ),
        ]
    result = sql_store.record(batch)
    assert (result.new_events, result.executions_created) == (800, 200)
    assert sql_store.record(batch).new_events == 0  # a replay changes nothing
    with sql_store.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT status, total_tasks_completed, total_tasks_failed, total_execution_time "
            "FROM agent_instances WHERE agent_id = 'quiz_generator@w1@h'"
        ).one()
    assert tuple(row) == ("idle", 150, 50, 200.0)
    assert sql_store.get_execution("t7")["input_data"] == {"i": 7}  # type: ignore[index]


def test_instance_is_busy_while_running(sql_store: SQLStore) -> None:
    sql_store.record([_t("a", "running", 0, 1, worker="w2@h")])
    rec = sql_store.get_execution("a")
    assert rec is not None and rec["status"] == "running"
    with sql_store.engine.connect() as conn:
        status, current = conn.exec_driver_sql(
            "SELECT status, current_task_id FROM agent_instances "
            "WHERE agent_id = 'quiz_generator@w2@h'"
        ).one()
    assert (status, current) == ("busy", "a")
    assert rec["agent_instance_id"] is not None


def test_unknown_task_id_reads_none(sql_store: SQLStore) -> None:
    assert sql_store.get_execution("no-such-task") is None


def test_unreachable_database_raises_database_unavailable() -> None:
    store = SQLStore("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(DatabaseUnavailable):
        store.record([_t("x", "queued", 0, 0)])
