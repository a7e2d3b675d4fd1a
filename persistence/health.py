"""System health, the stale-agent reaper and retention: the database side.

Queries live in ``persistence/sql/health.sql``. Everything here takes a
:class:`persistence.sql_store.SQLStore` and raises the store's errors
(:mod:`persistence.errors`); ``workers.health.checks`` turns them into a report that never
raises.

Reaper rules (docs/architecture.md, durability):

* An instance is **stale** when its ``last_heartbeat`` is older than the timeout; it
  becomes ``offline`` (``maintenance`` is left alone). A live worker's next heartbeat
  brings it back to ``idle``.
* A worker is **gone** when none of its instances is online (every one is offline or
  has a stale heartbeat). An execution still ``running`` on a gone worker is **lost**
  when its current attempt went running longer ago than the broker's visibility
  timeout: an unacknowledged message is redelivered after that long, and a redelivered
  run records a newer ``running`` (same attempt, later time) on its new worker, so the
  row would no longer match. A lost execution becomes ``failed`` with the reason
  ``worker lost``, through the lifecycle (:meth:`SQLStore.record`): the transition has
  the stable id ``stable_event_id(task_id, attempt, "failed", "worker-lost")`` (a
  second reaper run is a no-op) and the attempt is the row's ``retry_count``, so the
  history shows it. Should the run complete after all, its ``completed`` (same attempt,
  rank 42 > failed 41) still wins.

Retention drops the history's, metrics' and health rows' old weeks whole (revision
0012, :mod:`persistence.partitions`), then deletes terminal executions in bounded batches
(``batch`` rows per statement, each its own short transaction, ``SKIP LOCKED``, a short
``lock_timeout``) until nothing is left or the time budget is spent; the next run
continues. Their history went with the weeks dropped before them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from persistence import partitions
from persistence import records as r
from persistence.errors import wrap_db_errors
from persistence.lifecycle import TaskStatus, Transition, stable_event_id
from persistence.sql import queries
from persistence.sql_store import HasEngine, SQLStore, custom_plans
from persistence.store import Store, agent_id

SEED_TABLES = ("agent_instances", "agent_executions", "agent_metrics")
HEALTH_SCORE = {"healthy": 100.0, "degraded": 50.0, "unhealthy": 0.0}
WORKER_LOST = "worker lost"
WORKER_LOST_TYPE = "WorkerLost"
# An execution created longer than this before the window and finishing in it is
# not counted by the window statistics (the bound lets an index serve the scan).
DEFAULT_LOOKBACK_S = 86_400.0
# Told what a job changed in the primary, after its commit (beat mirrors it): the
# agent_ids an update marked offline; a table and the keys a retention batch deleted.
OnOffline = Callable[[list[str]], None]
OnDeleted = Callable[[str, list[str]], None]


def _q() -> dict[str, str]:
    return queries("health.sql")


# --- health ----------------------------------------------------------------------
def ping(store: SQLStore) -> float:
    """``SELECT 1`` on a pooled connection; the round trip in milliseconds."""
    start = time.perf_counter()
    with wrap_db_errors(), store.engine.connect() as conn:
        conn.exec_driver_sql(_q()["ping"]).scalar()
    return (time.perf_counter() - start) * 1000


def tables_accessible(store: SQLStore, tables: tuple[str, ...] = SEED_TABLES) -> dict[str, bool]:
    """Per table: it exists and this role may read it."""
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["tables_accessible"], {"tables": list(tables)})
        return {str(r[0]): bool(r[1]) for r in rows}


def realtime_tables(store: SQLStore, tables: tuple[str, ...] = SEED_TABLES) -> list[str]:
    """The tables whose changes the database publishes (a trigger calling pg_notify)."""
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["realtime_tables"], {"tables": list(tables)})
        return sorted(str(r[0]) for r in rows)


def execution_stats(
    store: SQLStore,
    window_s: float = 300.0,
    *,
    lookback_s: float = DEFAULT_LOOKBACK_S,
) -> dict[str, Any]:
    """What the executions did in the last ``window_s`` seconds.

    ``by_status``: executions whose status last changed in the window; ``open``: every
    unfinished execution by status; ``error_rate``: failed / (completed + failed) of the
    executions that ended in the window, in percent (None when none ended);
    ``p50_s`` / ``p95_s`` / ``avg_s``: their execution time (percentile_cont).
    """
    q = _q()
    with wrap_db_errors(), store.engine.connect() as conn:
        custom_plans(conn)
        since = conn.exec_driver_sql(q["db_now"]).scalar_one() - timedelta(seconds=window_s)
        params = {"since": since, "lookback_s": float(lookback_s)}
        by_status = {
            str(r[0]): int(r[1]) for r in conn.exec_driver_sql(q["executions_by_status"], params)
        }
        t = conn.exec_driver_sql(q["execution_times"], params).mappings().one()
        open_ = {str(r[0]): int(r[1]) for r in conn.exec_driver_sql(q["open_executions"])}
    ended = t["completed"] + t["failed"]
    return {
        "window_seconds": window_s,
        "by_status": by_status,
        "open": open_,
        "ended": ended,
        "completed": t["completed"],
        "failed": t["failed"],
        "error_rate": round(100.0 * t["failed"] / ended, 2) if ended else None,
        "avg_s": _float(t["avg_s"]),
        "p50_s": _float(t["p50_s"]),
        "p95_s": _float(t["p95_s"]),
        "avg_queue_wait_s": _float(t["avg_wait_s"]),
    }


def instances_summary(store: SQLStore, stale_s: float) -> dict[str, Any]:
    """Agent instances by status; ``online`` = not offline with a heartbeat within stale_s;
    ``online_workers`` and ``online_agent_types``: those with an online instance."""
    with wrap_db_errors(), store.engine.connect() as conn:
        row = (
            conn.exec_driver_sql(_q()["instances_summary"], {"stale_s": float(stale_s)})
            .mappings()
            .one()
        )
    out = dict(row)
    out["online_workers"] = sorted(out["online_workers"] or [])
    out["online_agent_types"] = sorted(out["online_agent_types"] or [])
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


_HEALTH_COLUMNS: dict[str, Any] = {
    "timestamp": None,
    "period_minutes": 5,
    "total_agents": 0,
    "active_agents": 0,
    "idle_agents": 0,
    "busy_agents": 0,
    "error_agents": 0,
    "total_tasks": 0,
    "completed_tasks": 0,
    "failed_tasks": 0,
    "queued_tasks": 0,
    "running_tasks": 0,
    "system_success_rate": 0.0,
    "system_error_rate": 0.0,
    "average_response_time": 0.0,
    "p95_response_time": 0.0,
    "tasks_per_minute": 0.0,
    "tasks_per_hour": 0.0,
    "queue_length": 0,
    "average_queue_wait_time": 0.0,
    "critical_issues": 0,
    "warnings": 0,
    "custom_metrics": {},
    "details": {},
}


def store_system_health(store: SQLStore, row: Mapping[str, Any]) -> str:
    """Insert one ``system_health`` row; returns its id.

    ``row`` holds any of the integration design's column names plus ``status`` (healthy / degraded /
    unhealthy) and ``details`` (jsonb); missing counters take the integration design's defaults,
    unknown keys are ignored. ``overall_health_score`` is 100 / 50 / 0 for healthy /
    degraded / unhealthy unless given.
    """
    status = str(row.get("status") or "unhealthy")
    params = {k: row.get(k, default) for k, default in _HEALTH_COLUMNS.items()}
    for k, default in _HEALTH_COLUMNS.items():
        if params[k] is None and k != "timestamp":
            params[k] = default
    params["status"] = status
    params["overall_health_score"] = float(
        row.get("overall_health_score", HEALTH_SCORE.get(status, 0.0))
    )
    for k in ("custom_metrics", "details"):
        params[k] = json.dumps(params[k], default=str, separators=(",", ":"))
    with wrap_db_errors(), store.engine.begin() as conn:
        return str(conn.exec_driver_sql(_q()["insert_system_health"], params).scalar_one())


def system_health_rows(store: SQLStore, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Whole ``system_health`` rows by id, as JSON values (what the mirror is given)."""
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["system_health_rows"], {"ids": list(ids)}).mappings()
        return [r.jsonable(dict(row)) for row in rows]


# --- reaper ----------------------------------------------------------------------
def mark_stale_instances(
    store: SQLStore, timeout_s: float, *, on_offline: OnOffline | None = None
) -> int:
    """Instances without a heartbeat for ``timeout_s`` become offline; how many did.
    ``on_offline`` gets their agent_ids after the commit (when there are any)."""
    with wrap_db_errors(), store.engine.begin() as conn:
        res = conn.exec_driver_sql(_q()["mark_stale_instances"], {"stale_s": float(timeout_s)})
        changed = sorted(str(row[0]) for row in res)
    if changed and on_offline is not None:
        on_offline(changed)
    return len(changed)


class RecordingOnEngine(HasEngine, Store, Protocol):
    """A store that records transitions and reads on an engine: the primary SQLStore, or
    the mirrored store (which records in both databases)."""


def fail_lost_executions(
    store: RecordingOnEngine,
    visibility_timeout_s: float,
    *,
    stale_s: float = 60.0,
    limit: int = 1000,
    on_offline: OnOffline | None = None,
) -> int:
    """Executions lost with their worker become ``failed`` ('worker lost'); how many.

    See the module docstring for what "lost" means. At most ``limit`` per call (the
    reaper runs every minute). The transitions go through ``store.record`` (a mirrored
    store mirrors them, event ids and all); ``on_offline`` gets the instances that
    recording created and this call then set offline.
    """
    q = _q()
    params = {"visibility_s": float(visibility_timeout_s), "stale_s": float(stale_s)}
    with wrap_db_errors(), store.engine.connect() as conn:
        now = conn.exec_driver_sql(q["db_now"]).scalar_one()
        rows = conn.exec_driver_sql(q["lost_executions"], {**params, "limit": limit}).mappings()
        lost = [dict(r) for r in rows]
    if not lost:
        return 0
    store.record([_worker_lost(r, now) for r in lost])
    ids = sorted({agent_id(r["agent_type"], r["worker"]) for r in lost if r["worker"]})
    with wrap_db_errors(), store.engine.begin() as conn:
        res = conn.exec_driver_sql(q["settle_lost_workers"], {"agent_ids": ids, "since": now})
        settled = sorted(str(row[0]) for row in res)
    if settled and on_offline is not None:
        on_offline(settled)
    return len(lost)


def _worker_lost(row: Mapping[str, Any], at: datetime) -> Transition:
    attempt = int(row["retry_count"] or 0)
    return Transition(
        event_id=stable_event_id(row["task_id"], attempt, "failed", "worker-lost"),
        task_id=row["task_id"],
        status=TaskStatus.FAILED,
        attempt=attempt,
        occurred_at=at,
        agent_type=row["agent_type"],
        task_type=row["task_type"],
        worker=row["worker"],
        result={"error_message": WORKER_LOST, "error_type": WORKER_LOST_TYPE},
    )


# --- retention -------------------------------------------------------------------
def purge_old(
    store: SQLStore,
    executions_days: float,
    metrics_days: float,
    health_days: float,
    *,
    batch: int = 5000,
    budget_s: float = 10.0,
    lock_timeout_ms: int = 2000,
    on_deleted: OnDeleted | None = None,
) -> dict[str, Any]:
    """Drop what is older than the ages given: the history's, metrics' and health rows'
    weeks by partition (:func:`persistence.partitions.drop_expired`), then the terminal
    executions that ended before the oldest history week kept, ``batch`` rows per short
    transaction, until done or ``budget_s`` is spent.

    Returns the rows gone per table, ``partitions`` (what was dropped) and ``complete``
    (False when the budget ran out first: the next run continues). Executions count from
    their end (``completed_at``), metrics from ``period_start``, health rows from
    ``timestamp``; a week goes when all of it is older than the age (rows stay up to a
    week longer). ``on_deleted(table, keys)`` is told each batch's deleted keys after its
    commit (ids; task_ids for executions).
    """
    q = _q()
    deadline = time.monotonic() + budget_s
    with wrap_db_errors(), store.engine.connect() as conn:
        now: datetime = conn.exec_driver_sql(q["db_now"]).scalar_one()
    history_cut = now - timedelta(days=executions_days)
    parts = partitions.drop_expired(
        store,
        {
            "agent_execution_events": history_cut,
            "agent_metrics": now - timedelta(days=metrics_days),
            "system_health": now - timedelta(days=health_days),
        },
        on_deleted=on_deleted,
    )
    out: dict[str, Any] = {
        name: int(p["rows"]) + int(p["strays"])  # type: ignore[call-overload]
        for name, p in parts.items()
        if name != "agent_execution_events"
    }
    out["partitions"] = parts
    out["agent_executions"] = 0
    complete = True
    # Executions that ended before the oldest history week kept: their history went
    # with the weeks dropped, so the cascade has (nearly) nothing left to delete.
    cutoffs = {"agent_executions": partitions.week_start(history_cut)}
    for name, query in (("agent_executions", "purge_executions"),):
        cutoff = cutoffs[name]
        while True:
            if time.monotonic() >= deadline:
                complete = False
                break
            with wrap_db_errors(), store.engine.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
                res = conn.exec_driver_sql(q[query], {"cutoff": cutoff, "batch": int(batch)})
                keys = [str(row[0]) for row in res]
            n = len(keys)
            if keys and on_deleted is not None:
                on_deleted(name, keys)
            out[name] += n
            if n < batch:
                break
    out["complete"] = complete
    out["cutoffs"] = {
        "agent_executions": cutoffs["agent_executions"].isoformat(),
        "agent_metrics": (now - timedelta(days=metrics_days)).astimezone(UTC).isoformat(),
        "system_health": (now - timedelta(days=health_days)).astimezone(UTC).isoformat(),
    }
    return out
