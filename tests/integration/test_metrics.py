"""Metrics aggregation in PostgreSQL: exact values per instance and per type, idempotent
reruns and concurrent runs, backfill after a gap, the integration design's service calls,
the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from persistence.lifecycle import TaskStatus, Transition
from persistence.metrics import aggregate_metrics, get_agent_metrics, store_agent_metrics
from persistence.sql_store import SQLStore
from tests.support.database import truncate

BASE = datetime(2026, 1, 1, tzinfo=UTC)  # a multiple of 5 minutes since the epoch
QUIZ, CONTENT = "quiz_generator", "content_generator"


def _at(minute: float) -> datetime:
    return BASE + timedelta(minutes=minute)


def _execution(
    agent_type: str,
    worker: str | None,
    status: str,
    finished_minute: float,
    exec_time: float | None = None,
    quality: float | None = None,
) -> list[Transition]:
    """The transitions of one execution that reached ``status`` at ``finished_minute``."""
    task_id = str(uuid.uuid4())
    end = _at(finished_minute)

    def t(st: str, when: datetime, **kw: Any) -> Transition:
        return Transition(uuid.uuid4(), task_id, TaskStatus(st), 0, when, agent_type, "t", **kw)

    out = [
        t("pending", end - timedelta(seconds=30), request={"input_data": {}}),
        t("queued", end - timedelta(seconds=29)),
        t("running", end - timedelta(seconds=20), worker=worker),
    ]
    if status != "running":
        result = {"execution_time_seconds": exec_time, "quality_score": quality}
        out.append(t(status, end, worker=worker, result=result))
    return out


def _record(store: SQLStore, *executions: list[Transition]) -> None:
    store.record([t for ts in executions for t in ts])


def _rows(store: SQLStore) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.agent_id, m.* FROM agent_metrics m "
            "LEFT JOIN agent_instances i ON i.id = m.agent_instance_id "
            "ORDER BY m.period_start, m.agent_type, i.agent_id NULLS FIRST"
        ).mappings()
        return [dict(r) for r in rows]


def _values(store: SQLStore) -> list[dict[str, Any]]:
    """The rows without what a fresh insert changes (id, created_at)."""
    return [{k: v for k, v in r.items() if k not in ("id", "created_at")} for r in _rows(store)]


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["period_start"], row["agent_id"] or row["agent_type"])


def _by_key(store: SQLStore) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {_key(r): r for r in _rows(store)}


@pytest.fixture
def seeded(sql_store: SQLStore) -> SQLStore:
    """Executions in periods [0,5), [5,10), [10,15) and the open [15,20) of BASE."""
    _record(
        sql_store,
        # period 0: quiz@w1 4 completed + 1 failed, quiz@w2 1 completed, content@w1
        # 1 completed + 1 cancelled, quiz 1 completed with no worker, 1 still running
        _execution(QUIZ, "w1", "completed", 0.5, 1.0, 0.5),
        _execution(QUIZ, "w1", "completed", 1.0, 2.0, 0.6),
        _execution(QUIZ, "w1", "completed", 2.0, 3.0, 0.7),
        _execution(QUIZ, "w1", "completed", 4.99, 4.0, 0.8),
        _execution(QUIZ, "w1", "failed", 3.0, 10.0),
        _execution(QUIZ, "w2", "completed", 4.0, 6.0, 0.9),
        _execution(CONTENT, "w1", "completed", 1.0, 2.0, 1.0),
        _execution(CONTENT, "w1", "cancelled", 2.0),
        _execution(QUIZ, "w1", "running", 3.0),
        # period 1: quiz@w1 2 failed
        _execution(QUIZ, "w1", "failed", 5.0, 1.0),
        _execution(QUIZ, "w1", "failed", 9.0, 3.0),
        # period 2: nothing; period 3 (open at NOW): quiz@w1 1 completed
        _execution(QUIZ, "w1", "completed", 15.5, 1.0, 0.1),
    )
    # the execution without a worker: its instance is unknown, it counts per type only
    with sql_store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO agent_executions (task_id, agent_type, task_type, status, "
            "completed_at, execution_time_seconds, quality_score) "
            "VALUES ('orphan', 'quiz_generator', 't', 'completed', %(at)s, 2.0, 0.3)",
            {"at": _at(4.5)},
        )
    return sql_store


NOW = _at(15) + timedelta(seconds=10)


def test_exact_metrics_per_instance_and_per_type(seeded: SQLStore) -> None:
    assert aggregate_metrics(seeded, now=NOW, backfill_periods=12) == 7
    rows = _by_key(seeded)
    assert set(rows) == {
        (_at(0), "quiz_generator@w1"),
        (_at(0), "quiz_generator@w2"),
        (_at(0), QUIZ),
        (_at(0), "content_generator@w1"),
        (_at(0), CONTENT),
        (_at(5), "quiz_generator@w1"),
        (_at(5), QUIZ),
    }
    w1 = rows[(_at(0), "quiz_generator@w1")]
    assert w1["agent_type"] == QUIZ and w1["period_end"] == _at(5)
    assert w1["period_duration_minutes"] == 5
    assert (w1["tasks_completed"], w1["tasks_failed"], w1["tasks_cancelled"]) == (4, 1, 0)
    assert w1["total_tasks"] == 5
    assert w1["success_rate"] == pytest.approx(80.0)
    assert w1["error_rate"] == pytest.approx(20.0)
    assert w1["average_execution_time"] == pytest.approx(4.0)  # (1+2+3+4+10)/5
    assert w1["median_execution_time"] == pytest.approx(3.0)
    assert w1["p95_execution_time"] == pytest.approx(8.8)  # 4 + 0.8 * (10 - 4)
    assert w1["average_quality_score"] == pytest.approx(0.65)
    assert w1["tasks_per_minute"] == pytest.approx(1.0)
    assert w1["tasks_per_hour"] == pytest.approx(60.0)

    quiz = rows[(_at(0), QUIZ)]  # w1 + w2 + the orphan: times 1 2 3 4 10 6 2
    assert quiz["agent_instance_id"] is None
    assert (quiz["tasks_completed"], quiz["tasks_failed"], quiz["total_tasks"]) == (6, 1, 7)
    assert quiz["success_rate"] == pytest.approx(600 / 7)
    assert quiz["error_rate"] == pytest.approx(100 / 7)
    assert quiz["average_execution_time"] == pytest.approx(28 / 7)
    assert quiz["median_execution_time"] == pytest.approx(3.0)  # 1 2 2 3 4 6 10
    assert quiz["p95_execution_time"] == pytest.approx(6 + 0.7 * 4)  # position 5.7
    assert quiz["average_quality_score"] == pytest.approx((0.5 + 0.6 + 0.7 + 0.8 + 0.9 + 0.3) / 6)
    assert quiz["tasks_per_minute"] == pytest.approx(7 / 5)

    content = rows[(_at(0), "content_generator@w1")]
    assert (content["tasks_completed"], content["tasks_cancelled"], content["total_tasks"]) == (
        1,
        1,
        2,
    )
    assert (content["success_rate"], content["error_rate"]) == (50.0, 0.0)
    assert content["average_execution_time"] == pytest.approx(2.0)  # cancelled has no time
    assert rows[(_at(0), CONTENT)]["total_tasks"] == 2

    late = rows[(_at(5), "quiz_generator@w1")]
    assert (late["tasks_completed"], late["tasks_failed"], late["total_tasks"]) == (0, 2, 2)
    assert (late["success_rate"], late["error_rate"]) == (0.0, 100.0)
    assert late["average_quality_score"] == 0.0  # no scores: the integration design's default
    assert late["median_execution_time"] == pytest.approx(2.0)
    assert rows[(_at(5), QUIZ)]["total_tasks"] == 2


def test_rerun_changes_nothing_and_takes_in_late_records(seeded: SQLStore) -> None:
    aggregate_metrics(seeded, now=NOW, backfill_periods=12)
    first = _rows(seeded)
    aggregate_metrics(seeded, now=NOW, backfill_periods=12)
    assert _rows(seeded) == first
    # a completion of the latest aggregated period recorded late is taken in next time
    _record(seeded, _execution(QUIZ, "w1", "completed", 6.0, 5.0, 1.0))
    aggregate_metrics(seeded, now=NOW + timedelta(minutes=1), backfill_periods=12)
    rows = _by_key(seeded)
    assert rows[(_at(5), "quiz_generator@w1")]["total_tasks"] == 3
    assert rows[(_at(5), QUIZ)]["tasks_completed"] == 1
    assert len(rows) == len(first)


def test_concurrent_runs_give_the_same_rows(seeded: SQLStore, database_url: str) -> None:
    aggregate_metrics(seeded, now=NOW, backfill_periods=12)
    expected = _values(seeded)
    truncate(database_url, ["agent_metrics"])

    stores = [SQLStore(database_url, pool_size=1) for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(store: SQLStore) -> None:
        try:
            barrier.wait()
            aggregate_metrics(store, now=NOW, backfill_periods=12)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for s in stores:
        s.close()
    assert errors == []
    assert _values(seeded) == expected


def test_concurrent_processes_give_the_same_rows(seeded: SQLStore, database_url: str) -> None:
    code = (
        "import sys, datetime as d\n"
        "from persistence.metrics import aggregate_metrics\n"
        "from persistence.sql_store import SQLStore\n"
        "s = SQLStore(sys.argv[1], pool_size=1)\n"
        "print(aggregate_metrics(s, now=d.datetime.fromisoformat(sys.argv[2]),"
        " backfill_periods=12))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url, NOW.isoformat()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    rows = _by_key(seeded)
    assert len(rows) == 7
    assert rows[(_at(0), QUIZ)]["total_tasks"] == 7


def test_backfill_after_a_gap_is_bounded(sql_store: SQLStore) -> None:
    # beat ran at minute 5, then was down; executions finished in minutes 5..60
    _record(sql_store, _execution(QUIZ, "w1", "completed", 1.0, 1.0, 0.5))
    assert aggregate_metrics(sql_store, now=_at(5), backfill_periods=3) == 2
    _record(
        sql_store,
        *[_execution(QUIZ, "w1", "completed", m + 1, 1.0, 0.5) for m in range(5, 60, 5)],
    )
    aggregate_metrics(sql_store, now=_at(60) + timedelta(seconds=1))
    starts = sorted({k[0] for k in _by_key(sql_store)})
    assert starts == [_at(m) for m in range(0, 60, 5)]  # every missed period, in one run

    # the bound: after a longer outage only the last `backfill_periods` periods are filled
    _record(
        sql_store,
        *[_execution(QUIZ, "w1", "completed", m + 1, 1.0, 0.5) for m in range(60, 120, 5)],
    )
    aggregate_metrics(sql_store, now=_at(120), backfill_periods=3)
    starts = sorted({k[0] for k in _by_key(sql_store)})
    assert starts == [_at(m) for m in range(0, 60, 5)] + [_at(105), _at(110), _at(115)]


def test_nothing_before_the_first_closed_period(sql_store: SQLStore) -> None:
    _record(sql_store, _execution(QUIZ, "w1", "completed", 1.0, 1.0, 0.5))
    assert aggregate_metrics(sql_store, now=_at(4.9)) == 0
    assert aggregate_metrics(sql_store, now=_at(10), period_minutes=10) == 2
    assert {r["period_duration_minutes"] for r in _rows(sql_store)} == {10}


def test_store_and_get_agent_metrics(sql_store: SQLStore) -> None:
    _record(sql_store, _execution(QUIZ, "w1", "completed", 1.0, 1.0, 0.5))
    now = datetime.now(UTC).replace(microsecond=0)
    for hours_ago in (1, 2, 30):
        start = now - timedelta(hours=hours_ago)
        store_agent_metrics(
            sql_store,
            {
                "agent_id": "quiz_generator@w1",
                "period_start": start,
                "period_end": start + timedelta(minutes=5),
                "tasks_completed": 3,
                "total_tasks": 4,
                "success_rate": 75.0,
            },
        )
    # the same key again updates the row
    start = now - timedelta(hours=1)
    row_id = store_agent_metrics(
        sql_store,
        {
            "agent_id": "quiz_generator@w1",
            "period_start": start,
            "period_end": start + timedelta(minutes=5),
            "tasks_completed": 4,
            "total_tasks": 4,
            "success_rate": 100.0,
        },
    )
    # a per-type row, twice
    for rate in (10.0, 20.0):
        store_agent_metrics(
            sql_store,
            {
                "agent_type": QUIZ,
                "period_start": start,
                "period_end": start + timedelta(minutes=5),
                "success_rate": rate,
            },
        )
    rows = get_agent_metrics(sql_store, "quiz_generator@w1")
    assert [r["period_start"] for r in rows] == [start, now - timedelta(hours=2)]
    assert str(rows[0]["id"]) == row_id
    assert (rows[0]["tasks_completed"], rows[0]["success_rate"]) == (4, 100.0)
    assert rows[0]["period_duration_minutes"] == 5 and rows[0]["agent_type"] == QUIZ
    assert len(get_agent_metrics(sql_store, "quiz_generator@w1", hours=48)) == 3
    assert get_agent_metrics(sql_store, "nobody@nowhere") == []
    everything = get_agent_metrics(sql_store, None)
    per_type = [r for r in everything if r["agent_id"] is None]
    assert [r["success_rate"] for r in per_type] == [20.0]
    with pytest.raises(ValueError, match="unknown agent_metrics columns"):
        store_agent_metrics(sql_store, {"agent_type": QUIZ, "bogus": 1})
    with pytest.raises(ValueError, match="unknown agent_id"):
        store_agent_metrics(
            sql_store,
            {"agent_id": "x@y", "period_start": start, "period_end": start + timedelta(1)},
        )


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.metrics", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or dict(os.environ),
    )


def test_cli_json_table_and_unreachable_database(sql_store: SQLStore) -> None:
    _record(sql_store, _execution(QUIZ, "w1", "completed", 1.0, 1.0, 0.5))
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    store_agent_metrics(
        sql_store,
        {
            "agent_id": "quiz_generator@w1",
            "period_start": start,
            "period_end": start + timedelta(minutes=5),
            "tasks_completed": 2,
            "total_tasks": 2,
            "success_rate": 100.0,
            "average_quality_score": 0.75,
        },
    )
    done = _cli("--agent", "quiz_generator@w1", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 1
    assert rows[0]["agent_id"] == "quiz_generator@w1"
    assert rows[0]["tasks_completed"] == 2 and rows[0]["average_quality_score"] == 0.75
    assert datetime.fromisoformat(rows[0]["period_start"]) == start

    # The table is per agent type; the instance rows on request (--instances).
    table = _cli("--hours", "1", "--instances", env=dict(os.environ, COLUMNS="200"))
    assert table.returncode == 0, table.stderr
    assert "quiz_generator@w1" in table.stdout and " 100 " in table.stdout
    assert "0.75" in table.stdout  # wide: the quality column too

    assert _cli("--hours", "0").returncode == 2
    env = dict(os.environ, DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    down = _cli("--json", env=env)
    assert down.returncode == 4, down.stderr
    assert "unreachable" in down.stderr
