"""The page's and the API's reads find their rows by index on tables big enough to tell
(bench/bench_queries.py times them at a month and ten of data; this checks the plans).

The tables are filled the bench's way (``bench/drain/load.py``, ``bench/queries_fill.py``)
and analyzed; each query is planned (``EXPLAIN (FORMAT JSON)``, no ANALYZE, the
planner's settings untouched) with the parameters the API passes. Only what the planner
decides the same way every time is asserted: on 60 000 executions a page of 51 read by
the index costs a few dozen pages against a scan and a sort of thousands, whatever the
sample ANALYZE drew; for the filters whose best plan depends on the data's spread
(status, agent type, user) only that the whole table is not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from bench.drain import load
from bench.queries_fill import fill
from persistence import browse
from persistence.sql import queries
from persistence.sql_store import SQLStore, custom_plans
from tests.support.database import libpq_url

EXECUTIONS = 60_000
BROWSE, QUERIES, METRICS = queries("browse.sql"), queries("queries.sql"), queries("metrics.sql")
HEALTH = queries("health.sql")


@pytest.fixture(scope="module")
def loaded(database_url: str) -> Iterator[str]:
    """The session's database with a month of (few) executions, metrics and health rows;
    emptied afterwards for the other modules."""
    url = libpq_url(database_url)
    load.load(url, EXECUTIONS, 4 * EXECUTIONS, workers=8, users=100)
    fill(url, days=7)
    yield url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE agent_execution_events, agent_executions, agent_metrics, system_health,"
            " agent_instances CASCADE"
        )


def _page(**kw: Any) -> dict[str, Any]:
    p = {"status": None, "agent_type": None, "user_id": None, "limit": 50}
    return {**p, "before_at": None, "before_id": None, **kw}


def _plan(url: str, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    return dict(row[0][0]["Plan"])


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    return [n["Relation Name"] for n in _nodes(plan) if n["Node Type"] == "Seq Scan"]


def _index_reads(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (n["Node Type"], n["Index Name"])
        for n in _nodes(plan)
        if n["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
    ]


def _newest(url: str) -> tuple[datetime, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT created_at, task_id FROM agent_executions ORDER BY created_at DESC,"
            " task_id DESC OFFSET 50 LIMIT 1"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("page", ["first", "next"])
def test_the_newest_executions_are_read_backwards_off_the_keyset_index(
    loaded: str, page: str
) -> None:
    at, task_id = _newest(loaded) if page == "next" else (None, None)
    plan = _plan(loaded, BROWSE["list_executions"], _page(before_at=at, before_id=task_id))
    assert _seq_scans(plan) == []
    assert not [n for n in _nodes(plan) if "Sort" in n["Node Type"]], plan
    scans = [n for n in _nodes(plan) if n["Node Type"] == "Index Scan"]
    assert [(n["Index Name"], n["Scan Direction"]) for n in scans] == [
        ("idx_agent_executions_created_task", "Backward")
    ], plan


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "running"},
        {"status": "completed"},
        {"agent_type": "quiz_generator"},
        {"status": "cancelled", "agent_type": "roblox_testing"},
    ],
    ids=lambda f: "+".join(f"{k}={v}" for k, v in f.items()),
)
def test_filtered_pages_never_read_the_whole_table(loaded: str, filters: dict[str, Any]) -> None:
    plan = _plan(loaded, BROWSE["list_executions"], _page(**filters))
    assert _seq_scans(plan) == [], plan
    assert _index_reads(plan), plan


def test_a_users_page_never_reads_the_whole_table(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        user = conn.execute("SELECT user_id FROM agent_executions LIMIT 1").fetchone()
    assert user is not None
    plan = _plan(loaded, BROWSE["list_executions"], _page(user_id=user[0]))
    assert _seq_scans(plan) == [] and _index_reads(plan), plan


def test_one_execution_and_its_history_by_index(loaded: str) -> None:
    _, task_id = _newest(loaded)
    for name in ("get_execution", "get_history"):
        plan = _plan(loaded, QUERIES[name], {"task_id": task_id})
        assert _seq_scans(plan) == [] and _index_reads(plan), (name, plan)


def test_metrics_of_the_last_day_by_period_end(loaded: str) -> None:
    plan = _plan(
        loaded,
        METRICS["get_agent_metrics"],
        {"agent_id": None, "hours": 24.0, "now": datetime.now(UTC)},
    )
    assert "agent_metrics" not in _seq_scans(plan), plan
    # On a partitioned agent_metrics (revision 0012) each partition has its own copy of
    # the index, named after the partition and the column.
    names = {name for _, name in _index_reads(plan)}
    assert "idx_agent_metrics_period_end" in names or any(
        n.endswith("period_end_idx") for n in names
    ), plan


def test_the_health_reports_recent_changes_by_status_at(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        now = conn.execute("SELECT now()").fetchone()
    assert now is not None
    params = {"since": now[0] - timedelta(seconds=300), "lookback_s": 86_400.0}
    plan = _plan(loaded, HEALTH["executions_by_status"], params)
    assert _seq_scans(plan) == [], plan
    assert "idx_agent_executions_status_at" in {name for _, name in _index_reads(plan)}, plan


def test_custom_plans_hold_for_the_transaction_only(database_url: str) -> None:
    """The reads' setting is in force for their statements and never outlives them on
    the pooled connection (one connection: the next checkout is the same session)."""
    store = SQLStore(database_url, pool_size=1)
    try:
        with store.engine.connect() as conn:
            custom_plans(conn)
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
        for _ in range(8):  # prepared by psycopg from the fifth run on
            assert browse.list_executions(store, status="pending", limit=5) == ([], None)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
    finally:
        store.close()
