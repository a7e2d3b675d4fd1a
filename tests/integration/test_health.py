"""System health, the stale-agent reaper and retention, on the real services
(and on throwaway ones that a test stops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from persistence.health import (
    WORKER_LOST,
    execution_stats,
    fail_lost_executions,
    mark_stale_instances,
    purge_old,
    store_system_health,
)
from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore
from tests.support.servers import PostgresServer, RedisServer
from tests.support.workers import WorkerProcess, wait_for
from workers.health.report import health_check, health_row
from workers.routing import AGENT_TYPES
from workers.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
AGENT, TASK = "quiz_generator", "quiz"
WIDE = {"COLUMNS": "400"}  # rich lays the table out for 80 columns when not on a terminal


def _t(task_id: str, status: str, at: datetime, attempt: int = 0, **kw: Any) -> Transition:
    return Transition(uuid.uuid4(), task_id, TaskStatus(status), attempt, at, AGENT, TASK, **kw)


def _run(
    store: SQLStore, worker: str, at: datetime, *, end: str | None = None, secs: float = 1.0
) -> str:
    """One execution that went running on ``worker`` at ``at`` (and ended, if ``end``)."""
    tid = str(uuid.uuid4())
    ts = [
        _t(tid, "pending", at, request={"input_data": {"n": 1}}),
        _t(tid, "queued", at),
        _t(tid, "running", at, worker=worker),
    ]
    if end:
        result: dict[str, Any] = {"execution_time_seconds": secs, "quality_score": 0.5}
        if end == "failed":
            result = {"execution_time_seconds": secs, "error_message": "boom"}
        ts.append(_t(tid, end, at + timedelta(seconds=secs), worker=worker, result=result))
    store.record(ts)
    return tid


def _sql(store: SQLStore, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with store.engine.begin() as conn:
        res = conn.exec_driver_sql(sql, params or {})
        return list(res.fetchall()) if res.returns_rows else []


def _age_heartbeat(store: SQLStore, worker: str, seconds: float) -> None:
    _sql(
        store,
        "UPDATE agent_instances SET last_heartbeat = now() - make_interval(secs => %(s)s) "
        "WHERE worker = %(w)s",
        {"s": seconds, "w": worker},
    )


def _health_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.health", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- health --------------------------------------------------------------------------
def test_health_shape_and_statistics_on_the_real_services(
    sql_store: SQLStore, redis_client: redis.Redis
) -> None:
    now = datetime.now(UTC)
    # What a worker consuming every agent queue records at start (its bootstep).
    sql_store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", now)
    for secs in (1.0, 2.0, 3.0, 4.0):
        _run(sql_store, "w1@h", now - timedelta(seconds=10), end="completed", secs=secs)
    _run(sql_store, "w1@h", now - timedelta(seconds=10), end="failed", secs=5.0)
    _run(sql_store, "w1@h", now)  # still running

    report = health_check(store=sql_store)
    assert report["status"] == "healthy", report["reasons"]
    assert set(report) >= {"status", "response_time_ms", "tables_accessible", "realtime_enabled"}
    assert report["tables_accessible"] == {
        "agent_instances": True,
        "agent_executions": True,
        "agent_metrics": True,
    }
    assert isinstance(report["realtime_enabled"], bool)
    c = report["components"]
    assert c["broker"]["ok"] and c["broker"]["latency_ms"] >= 0
    assert c["database"]["ok"] and c["database"]["latency_ms"] >= 0
    assert c["supabase"] == {"ok": True, "configured": False, "status": "not configured"}
    assert c["queues"]["total"] == 0 and c["queues"]["depth"][AGENT] == 0
    assert c["workers"]["online"] == len(AGENT_TYPES)
    assert c["workers"]["online_workers"] == ["w1@h"]
    assert c["workers"]["queues_without_consumer"] == [] and c["workers"]["status"] == "healthy"
    ex = c["executions"]
    assert ex["by_status"] == {"completed": 4, "failed": 1, "running": 1}
    assert ex["error_rate"] == 20.0  # not above the 20 % threshold
    assert ex["p50_s"] == pytest.approx(3.0) and ex["p95_s"] == pytest.approx(4.8)
    assert ex["open"] == {"running": 1}
    assert c["recording"]["ok"] and c["recording"]["backlog"] == 0

    row_id = store_system_health(sql_store, health_row(report))
    [row] = _sql(
        sql_store,
        "SELECT status, overall_health_score, completed_tasks, failed_tasks, running_tasks, "
        "system_error_rate, active_agents, p95_response_time, details->'reasons' "
        "FROM system_health WHERE id = %(id)s",
        {"id": row_id},
    )
    assert tuple(row) == (
        "healthy",
        100.0,
        4,
        1,
        1,
        20.0,
        len(AGENT_TYPES),
        pytest.approx(4.8),
        [],
    )


def _no_python_values(text: str) -> None:
    """What a person reads: no repr of None, an empty dict or list."""
    for raw in ("None", "{}", "[]"):
        assert raw not in text, text


def test_no_worker_online_is_unhealthy_and_says_so(clean: str, redis_client: redis.Redis) -> None:
    redis_client.lpush(f"{AGENT}:5", b"{}", b"{}")
    redis_client.lpush(AGENT, b"{}")
    old_ms = int((datetime.now(UTC).timestamp() - 120) * 1000)
    redis_client.xadd("agentq:events", {"e": b"[]"}, id=f"{old_ms}-0")
    res = _health_cli("--json")
    assert res.returncode == 4, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["status"] == "unhealthy"
    assert report["components"]["queues"]["depth"][AGENT] == 3
    assert report["components"]["workers"]["status"] == "unhealthy"
    assert report["reasons"][0] == (
        "no worker online: no queue is consumed, 3 messages waiting"
        " (start one: celery -A workers.app worker)"
    )
    assert report["components"]["recording"]["backlog"] == 1
    assert any(r.startswith("recording lag 1") for r in report["reasons"])  # still listed
    text = _health_cli(env=WIDE)
    assert text.returncode == 4 and text.stdout.startswith("unhealthy"), text.stdout
    assert "no worker online" in text.stdout and "workers: none" in text.stdout
    _no_python_values(text.stdout)


def test_a_queue_no_live_worker_consumes_is_degraded_and_named(
    clean: str, redis_client: redis.Redis
) -> None:
    """A real worker consuming every agent queue but two: those two are named."""
    left_out = ["terrain_generator", "roblox_testing"]
    queues = [a for a in AGENT_TYPES if a not in left_out]
    redis_client.lpush("terrain_generator", b"{}", b"{}")
    with WorkerProcess("health-subset", concurrency=1, queues=",".join(queues)):
        wait_for(
            lambda: json.loads(_health_cli("--json").stdout)["components"]["workers"]["online"],
            30,
            what="the worker's instances online",
        )
        res = _health_cli("--json")
        text = _health_cli(env=WIDE)
    assert res.returncode == 5, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["status"] == "degraded"
    workers = report["components"]["workers"]
    assert workers["status"] == "degraded" and workers["queues_without_consumer"] == [
        "terrain_generator",
        "roblox_testing",
    ]
    assert report["reasons"] == [
        "no live worker consumes 2 queues: terrain_generator (2 waiting), roblox_testing"
        " (0 waiting)"
    ]
    assert text.returncode == 5 and text.stdout.startswith("degraded"), text.stdout
    assert "queues without a live consumer: terrain_generator, roblox_testing" in text.stdout
    _no_python_values(text.stdout)


def test_cli_exits_0_when_healthy(sql_store: SQLStore) -> None:
    sql_store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", datetime.now(UTC))
    res = _health_cli("--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["status"] == "healthy"
    text = _health_cli(env=WIDE)
    assert text.returncode == 0 and text.stdout.startswith("healthy"), text.stdout
    _no_python_values(text.stdout)


@pytest.fixture
def throwaway_redis() -> Iterator[RedisServer]:
    srv = RedisServer()
    srv.start()
    yield srv
    srv.stop()


def test_broker_down_is_unhealthy_with_the_reason(
    sql_store: SQLStore, throwaway_redis: RedisServer
) -> None:
    # A worker's instances are online (heartbeats in the database): only the broker fails.
    sql_store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", datetime.now(UTC))
    url = f"redis://:s3cretpw@127.0.0.1:{throwaway_redis.port}/0"
    settings = load_settings(celery_broker_url=url)
    throwaway_redis.stop()
    report = health_check(settings)
    assert report["status"] == "unhealthy"
    assert report["reasons"][0].startswith("broker unreachable: ")
    # the recording stream lives on the same Redis: not a second reason
    assert len(report["reasons"]) == 1, report["reasons"]
    assert report["components"]["database"]["ok"]
    assert report["components"]["broker"]["url"].startswith("redis://:***@")
    assert "s3cretpw" not in json.dumps(report, default=str)


def test_database_down_is_unhealthy_with_the_reason(clean: str) -> None:
    srv = PostgresServer()
    try:
        srv.start()
        url = f"postgresql://postgres:s3cretpw@127.0.0.1:{srv.port}/postgres"
        settings = load_settings(database_url=url)
        report = health_check(settings)  # reachable, but not migrated
        assert report["status"] == "unhealthy"
        assert report["reasons"] == [
            "tables not accessible: agent_instances, agent_executions, agent_metrics"
        ]
        srv.stop()
        report = health_check(settings)
    finally:
        srv.destroy()
    assert report["status"] == "unhealthy"
    assert report["reasons"][0].startswith("database unreachable: ")
    assert report["tables_accessible"]["agent_executions"] is False
    assert report["components"]["broker"]["ok"]
    assert "workers" not in report["components"]  # needs the database
    assert "s3cretpw" not in json.dumps(report, default=str)


def test_invalid_settings_exit_1(clean: str) -> None:
    res = _health_cli("--json", env={"DATABASE_URL": "mysql://x@y/z"})
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert report["status"] == "unhealthy" and "DATABASE_URL" in report["reasons"][0]


# --- reaper ---------------------------------------------------------------------------
def _instances(store: SQLStore) -> dict[str, str]:
    return {r[0]: r[1] for r in _sql(store, "SELECT worker, status::text FROM agent_instances")}


def test_stale_instances_become_offline(sql_store: SQLStore) -> None:
    now = datetime.now(UTC)
    sql_store.set_instances_status("old@h", [AGENT], "idle", now)
    sql_store.set_instances_status("fresh@h", [AGENT], "busy", now)
    sql_store.set_instances_status("maint@h", [AGENT], "maintenance", now)
    _age_heartbeat(sql_store, "old@h", 61)
    _age_heartbeat(sql_store, "maint@h", 3600)
    _age_heartbeat(sql_store, "fresh@h", 59)
    assert mark_stale_instances(sql_store, 60) == 1
    assert _instances(sql_store) == {
        "old@h": "offline",
        "fresh@h": "busy",
        "maint@h": "maintenance",
    }
    assert mark_stale_instances(sql_store, 60) == 0
    sql_store.heartbeat("old@h", [AGENT])  # a live worker comes back
    assert _instances(sql_store)["old@h"] == "idle"


def test_lost_running_execution_fails_with_worker_lost(sql_store: SQLStore) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(seconds=120)  # > the visibility timeout (30 s in tests)
    lost = _run(sql_store, "dead@h", long_ago)
    recent = _run(sql_store, "dead@h", now - timedelta(seconds=5))
    alive = _run(sql_store, "alive@h", long_ago)
    ghost = _run(sql_store, "ghost@h", long_ago)
    _age_heartbeat(sql_store, "dead@h", 300)
    _sql(sql_store, "UPDATE agent_executions SET agent_instance_id = NULL")
    _sql(sql_store, "DELETE FROM agent_instances WHERE worker = 'ghost@h'")
    assert mark_stale_instances(sql_store, 60) == 1

    assert fail_lost_executions(sql_store, 30, stale_s=60) == 2
    row = sql_store.get_execution(lost)
    assert row is not None
    assert row["status"] == "failed" and row["error_message"] == WORKER_LOST
    assert row["error_type"] == "WorkerLost" and row["worker"] == "dead@h"
    assert [h["status"] for h in row["history"]][-1] == "failed"
    assert row["history"][-1]["detail"]["error_message"] == WORKER_LOST
    assert sql_store.get_execution(ghost)["status"] == "failed"  # type: ignore[index]
    for tid in (recent, alive):
        assert sql_store.get_execution(tid)["status"] == "running"  # type: ignore[index]
    # the lost workers' instances stay offline (ghost@h's was recreated by the counters)
    inst = _instances(sql_store)
    assert inst["dead@h"] == "offline" and inst["ghost@h"] == "offline"
    assert inst["alive@h"] == "busy"
    # idempotent, and a late real completion of the same attempt still wins
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert fail_lost_executions(sql_store, 30, stale_s=60) == 0
    sql_store.record(
        [_t(lost, "completed", later, worker="dead@h", result={"execution_time_seconds": 2.0})]
    )
    row = sql_store.get_execution(lost)
    assert row is not None and row["status"] == "completed"
    assert [h["status"] for h in row["history"]][-2:] == ["failed", "completed"]


# --- retention ----------------------------------------------------------------------
def test_retention_deletes_just_older_rows_in_batches(sql_store: SQLStore) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=30, minutes=2)
    young = now - timedelta(days=30) + timedelta(minutes=2)
    old_ids = [_run(sql_store, "w@h", old, end="completed") for _ in range(23)]
    old_ids.append(_run(sql_store, "w@h", old, end="failed"))
    young_id = _run(sql_store, "w@h", young, end="completed")
    old_running = _run(sql_store, "w@h", old)  # not terminal: kept
    for start, tag in (
        (now - timedelta(days=90, hours=2), "old"),
        (now - timedelta(days=89), "new"),
    ):
        _sql(
            sql_store,
            "INSERT INTO agent_metrics (agent_type, period_start, period_end, "
            "period_duration_minutes, custom_metrics) VALUES "
            "('quiz_generator', %(s)s, %(e)s, 60, jsonb_build_object('tag', %(tag)s::text))",
            {"s": start, "e": start + timedelta(hours=1), "tag": tag},
        )
    for ts, status in (
        (now - timedelta(days=14, minutes=2), "healthy"),
        (now - timedelta(days=13), "degraded"),
    ):
        store_system_health(sql_store, {"timestamp": ts, "status": status})

    # no budget: no execution is deleted, and the result says it is not complete (the
    # partitioned tables' old rows go regardless: whole weeks, or strays as here)
    first = purge_old(sql_store, 30, 90, 14, batch=10, budget_s=0)
    assert first["complete"] is False and first["agent_executions"] == 0
    assert (first["agent_metrics"], first["system_health"]) == (1, 1)

    # Executions go when they ended before the oldest history week kept (the week of
    # the cutoff, docs/schema.md#partitions): age the old ones by a week more.
    _sql(
        sql_store,
        "UPDATE agent_executions SET completed_at = completed_at - interval '7 days', "
        "created_at = created_at - interval '7 days' WHERE task_id = ANY(%(ids)s)",
        {"ids": old_ids},
    )
    result = purge_old(sql_store, 30, 90, 14, batch=10, budget_s=30)
    assert result["complete"] is True
    assert (result["agent_executions"], result["agent_metrics"], result["system_health"]) == (
        24,
        0,
        0,
    )
    left = {r[0] for r in _sql(sql_store, "SELECT task_id FROM agent_executions")}
    assert left == {young_id, old_running}
    events = _sql(
        sql_store,
        "SELECT count(*) FROM agent_execution_events WHERE task_id = ANY(%(ids)s)",
        {"ids": old_ids},
    )
    assert events[0][0] == 0  # the history went with them
    assert [r[0] for r in _sql(sql_store, "SELECT custom_metrics->>'tag' FROM agent_metrics")] == [
        "new"
    ]
    assert [r[0] for r in _sql(sql_store, "SELECT status FROM system_health")] == ["degraded"]
    assert purge_old(sql_store, 30, 90, 14, batch=10)["agent_executions"] == 0


def test_execution_stats_window(sql_store: SQLStore) -> None:
    now = datetime.now(UTC)
    _run(sql_store, "w@h", now - timedelta(minutes=10), end="completed")
    _run(sql_store, "w@h", now - timedelta(seconds=30), end="failed")
    stats = execution_stats(sql_store, 300)
    assert stats["by_status"] == {"failed": 1}
    assert stats["error_rate"] == 100.0 and stats["ended"] == 1


# --- beat tasks ------------------------------------------------------------------------
def test_beat_tasks_store_health_reap_and_purge(sql_store: SQLStore) -> None:
    from celery import Celery

    from workers.beat.housekeeping import (
        REAP_STALE,
        RETENTION,
        SYSTEM_HEALTH,
        register_housekeeping_tasks,
        run_reap_stale,
        run_retention,
        run_system_health,
    )

    app = Celery("health-test", set_as_current=False)
    register_housekeeping_tasks(app)
    assert {SYSTEM_HEALTH, REAP_STALE, RETENTION} <= set(app.tasks)

    # Beat's tasks run on a worker: its instances are online.
    sql_store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", datetime.now(UTC))
    out = run_system_health(store=sql_store)
    assert out["status"] == "healthy" and out["id"]
    assert _sql(sql_store, "SELECT status, overall_health_score FROM system_health") == [
        ("healthy", 100.0)
    ]
    sql_store.set_instances_status("old@h", [AGENT], "idle", datetime.now(UTC))
    _age_heartbeat(sql_store, "old@h", 120)
    assert run_reap_stale(store=sql_store) == {
        "instances_offline": 1,
        "executions_lost": 0,
        "reports_forgotten": 0,
    }
    result = run_retention(store=sql_store)
    assert result["complete"] is True and result["system_health"] == 0
