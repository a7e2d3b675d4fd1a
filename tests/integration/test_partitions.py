"""Revision 0012's weekly partitions (docs/schema.md#partitions): the migration keeps the
rows both ways, beat creates the weeks ahead, a stray row lands in the default partition
and is reported, retention drops whole weeks (no row-by-row DELETE) and keeps the young
ones, and the recorder stays idempotent by event id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from persistence import partitions
from persistence.health import purge_old
from persistence.lifecycle import TaskStatus, Transition
from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tests.conftest import PG_ADMIN
from tests.support.workers import wait_for

AGENT, TASK = "quiz_generator", "quiz"


def _t(task_id: str, status: str, at: datetime, **kw: Any) -> Transition:
    return Transition(uuid.uuid4(), task_id, TaskStatus(status), 0, at, AGENT, TASK, **kw)


def _sql(store: SQLStore, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with store.engine.begin() as conn:
        res = conn.exec_driver_sql(sql, params or {})
        return list(res.fetchall()) if res.returns_rows else []


def _done(store: SQLStore, at: datetime) -> str:
    tid = str(uuid.uuid4())
    store.record(
        [
            _t(tid, "pending", at, request={"input_data": {}}),
            _t(tid, "running", at, worker="w@h"),
            _t(tid, "completed", at + timedelta(seconds=1), worker="w@h"),
        ]
    )
    return tid


@pytest.fixture
def store(sql_store: SQLStore) -> Iterator[SQLStore]:
    """The session's store; the past weeks a test created are dropped after it (other
    modules expect old rows to be strays of the default partition)."""
    yield sql_store
    this_week = partitions.week_start(datetime.now(UTC))
    for table in partitions.PARTITIONED:
        partitions.drop_before(sql_store, table, this_week)


@pytest.fixture
def fresh_db() -> Iterator[str]:
    name = f"agentq_parts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


COUNTS = (
    "SELECT (SELECT count(*) FROM agent_execution_events), (SELECT count(*) FROM agent_metrics),"
    " (SELECT count(*) FROM system_health)"
)


def test_migration_up_and_down_keeps_the_rows(fresh_db: str) -> None:
    service = MigrationService(fresh_db.replace("postgresql://", "postgresql+psycopg://"))
    service.run_migrations("0011_trace_id")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_executions (task_id, agent_type, task_type) "
            "VALUES ('t1', 'quiz_generator', 'quiz')"
        )
        conn.execute(
            "INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at) "
            "SELECT gen_random_uuid(), 't1', 'running', 0, now() - d * interval '1 day' "
            "FROM generate_series(0, 40) AS d"
        )
        conn.execute(
            "INSERT INTO agent_metrics (agent_type, period_start, period_end, "
            "period_duration_minutes) SELECT 'quiz_generator', now() - d * interval '1 day', "
            "now() - d * interval '1 day' + interval '1 hour', 60 FROM generate_series(0, 20) d"
        )
        conn.execute(
            "INSERT INTO system_health (timestamp) "
            "SELECT now() - d * interval '1 day' FROM generate_series(0, 9) AS d"
        )
        before = conn.execute(COUNTS).fetchone()
        events = conn.execute("SELECT id, occurred_at FROM agent_execution_events ORDER BY id")
        kept = events.fetchall()
    assert before == (41, 21, 10)

    service.run_migrations()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute(COUNTS).fetchone() == before
        assert (
            conn.execute(
                "SELECT id, occurred_at FROM agent_execution_events ORDER BY id"
            ).fetchall()
            == kept
        )
        kinds = conn.execute(
            "SELECT relname, relkind::text FROM pg_class WHERE relname IN "
            "('agent_execution_events', 'agent_metrics', 'system_health') ORDER BY 1"
        ).fetchall()
        assert [k for _, k in kinds] == ["p", "p", "p"]
        # Every row in its week: nothing in the default partitions.
        assert conn.execute(
            "SELECT count(*) FROM agentq_partitions.agent_execution_events_default"
        ).fetchone() == (0,)

    service.downgrade("0011_trace_id")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute(COUNTS).fetchone() == before
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relkind = 'p' OR relname LIKE '%\\_default'"
        ).fetchone() == (0,)
        assert conn.execute("SELECT to_regnamespace('agentq_partitions')").fetchone() == (None,)
    service.run_migrations()  # and up again
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert conn.execute(COUNTS).fetchone() == before


def test_beat_creates_the_weeks_ahead_and_reports_strays(store: SQLStore) -> None:
    from workers.beat.partitions import run_partitions
    from workers.health.verdict import verdict

    out = run_partitions(store=store, weeks=3)
    names = {p.name for p in partitions.partitions(store, "agent_execution_events")}
    ahead = partitions.week_start(datetime.now(UTC)) + timedelta(weeks=3)
    assert f"agent_execution_events_p{ahead:%Y%m%d}" in names
    assert out["primary"]["agent_execution_events"] >= 1
    assert run_partitions(store=store, weeks=3)["primary"] == {t: 0 for t in partitions.PARTITIONED}

    # A row a year in the future has no week: the default partition takes it, and the
    # database health component says so.
    _done(store, datetime.now(UTC) + timedelta(days=400))
    assert partitions.strays(store)["agent_execution_events"] == 3
    components = {"database": {"ok": True, "partition_strays": partitions.strays(store)}}
    status, reasons = verdict(components)
    assert status == "degraded"
    assert any("(default partitions): agent_execution_events 3" in r for r in reasons)


def test_retention_drops_old_weeks_and_never_deletes_history_rows(store: SQLStore) -> None:
    now = datetime.now(UTC)
    _sql(
        store,
        "SELECT agentq_create_partitions(t::regclass, now() - interval '10 weeks', now()) "
        "FROM unnest(ARRAY['agent_execution_events', 'agent_metrics', 'system_health']) t",
    )
    old = [_done(store, now - timedelta(weeks=7)) for _ in range(5)]
    young = [_done(store, now - timedelta(days=3)) for _ in range(2)]
    deleted = "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'agent_executions'"
    executions_deleted = _sql(store, deleted)[0][0]
    before = dict(
        _sql(
            store,
            "SELECT relname, n_tup_del FROM pg_stat_user_tables "
            "WHERE schemaname = 'agentq_partitions'",
        )
    )
    result = purge_old(store, 30, 90, 14)
    dropped = result["partitions"]["agent_execution_events"]
    old_week = f"agent_execution_events_p{partitions.week_start(now - timedelta(weeks=7)):%Y%m%d}"
    assert old_week in dropped["partitions"] and dropped["rows"] == 15
    assert result["agent_executions"] == 5
    left = {r[0] for r in _sql(store, "SELECT task_id FROM agent_executions")}
    assert left == set(young)
    names = {p.name for p in partitions.partitions(store, "agent_execution_events")}
    assert old_week not in names
    assert f"agent_execution_events_p{partitions.week_start(now):%Y%m%d}" in names
    # No history row was deleted one by one: the executions' cascade found nothing.
    # (Statistics arrive asynchronously: wait until the executions' deletes show.)
    wait_for(
        lambda: (
            _sql(store, "SELECT pg_stat_clear_snapshot()") is not None
            and _sql(store, deleted)[0][0] >= executions_deleted + 5
        ),
        timeout=60,
        what="the retention's deletes in pg_stat_user_tables",
    )
    after = dict(
        _sql(
            store,
            "SELECT relname, n_tup_del FROM pg_stat_user_tables WHERE schemaname = "
            "'agentq_partitions' AND relname LIKE 'agent\\_execution\\_events%%'",
        )
    )
    assert all(after[n] == before.get(n, 0) for n in after), (before, after)
    assert _sql(store, "SELECT count(*) FROM agent_execution_events")[0][0] == 6
    assert not set(old) & left


def test_a_replayed_event_is_recorded_once(store: SQLStore) -> None:
    at = datetime.now(UTC)
    tid = str(uuid.uuid4())
    pending = _t(tid, "pending", at, request={"input_data": {}})
    store.record([pending])
    store.record([pending])  # the same wire event again
    # The same id at another time (the reaper's or the reconciler's stable ids): still one.
    later = Transition(
        pending.event_id, tid, TaskStatus.PENDING, 0, at + timedelta(days=8), AGENT, TASK
    )
    store.record([later])
    rows = _sql(
        store, "SELECT count(*) FROM agent_execution_events WHERE task_id = %(t)s", {"t": tid}
    )
    assert rows[0][0] == 1


def test_sync_schemas_compares_parents_not_the_weeks(fresh_db: str) -> None:
    """Two databases at head with different weeks are in sync (which weeks exist is
    retention's state); a parent partitioned on one side only is a difference."""
    mirror_db = fresh_db + "_m"
    name = mirror_db.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        sa = [u.replace("postgresql://", "postgresql+psycopg://") for u in (fresh_db, mirror_db)]
        MigrationService(sa[0]).run_migrations()
        MigrationService(sa[1]).run_migrations()
        with psycopg.connect(mirror_db, autocommit=True) as conn:
            conn.execute(
                "SELECT agentq_create_partitions('agent_metrics', now() - interval '9 weeks',"
                " now() - interval '9 weeks')"
            )
        service = MigrationService(sa[0], mirror_url=sa[1])
        result = service.sync_schemas()
        assert result["in_sync"], result["differences"]

        MigrationService(sa[1]).downgrade("0011_trace_id")
        lines = service.sync_schemas()["differences"]
        assert any(
            line.startswith("table agent_metrics: differs") and "p RANGE (period_start)" in line
            for line in lines
        ), lines
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
