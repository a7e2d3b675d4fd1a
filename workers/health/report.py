"""The health report: every component checked (``workers/health/checks.py``), the
verdict (``workers/health/verdict.py``), and the ``system_health`` row beat stores.

:func:`health_check` never raises: bad settings or a bug still give an answer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from persistence.formatting import one_line
from persistence.health import SEED_TABLES
from persistence.sql_store import SQLStore
from workers import stores
from workers.health.checks import (
    RECORDING_STALL_S,
    _setting,
    check_broker,
    check_database,
    check_executions,
    check_mirror,
    check_queues,
    check_recording,
    check_supabase,
    check_workers,
    queue_names,
)
from workers.health.progress import check_progress
from workers.health.reconcile import check_reconcile
from workers.health.verdict import _unhealthy_reasons, verdict
from workers.settings import Settings, SettingsError, get_settings


def health_check(
    settings: Settings | None = None,
    *,
    store: SQLStore | None = None,
    ping_app: Any = None,
) -> dict[str, Any]:
    """Every component's health and the verdict. Never raises. With ``ping_app`` (a Celery
    app) the workers are also pinged over the broker (``agentq health --ping``).

    Shape: the integration design's health check (``status``, ``response_time_ms`` of the
    whole check,
    ``tables_accessible`` (agent_instances, agent_executions, agent_metrics) and
    ``realtime_enabled``), plus ``reasons``, ``checked_at`` and ``components``.
    """
    start = time.perf_counter()
    checked_at = datetime.now(UTC)
    try:
        components = _components(settings, store, ping_app)
    except Exception as exc:  # bad settings, or a bug: still an answer
        key = "settings" if isinstance(exc, SettingsError) else "internal"
        components = {key: {"ok": False, "error": one_line(exc)}}
    status, reasons = verdict(components)
    return {
        **design_shape(status, start, components.get("database", {})),
        "reasons": reasons,
        "checked_at": checked_at.isoformat(),
        "components": components,
    }


def design_shape(status: str, started: float, db: dict[str, Any]) -> dict[str, Any]:
    """The keys of the integration design's health check: ``status``, ``response_time_ms``
    since ``started`` (``time.perf_counter()``), ``tables_accessible`` per table of the
    design, ``realtime_enabled`` (change-feed triggers installed, and not switched off by
    ``SUPABASE_ENABLE_REALTIME=false``); from the ``database`` component ``db``."""
    tables = db.get("tables_accessible") or {}
    return {
        "status": status,
        "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
        "tables_accessible": {t: bool(tables.get(t, False)) for t in SEED_TABLES},
        # The feed is installed and the writers send it (SUPABASE_ENABLE_REALTIME).
        "realtime_enabled": bool(db.get("realtime_tables") and db.get("realtime_setting", True)),
    }


def _components(
    settings: Settings | None, store: SQLStore | None, ping_app: Any
) -> dict[str, dict[str, Any]]:
    settings = settings or get_settings()
    own = store is None
    db_store = store or stores.sql_store(settings)
    c: dict[str, dict[str, Any]] = {}
    try:
        c["broker"] = check_broker(settings.broker_url)
        c["database"] = check_database(db_store, settings)
        if c["broker"]["ok"]:
            c["queues"] = check_queues(settings.broker_url, queue_names())
        stall_s = _setting(settings, "recording_stall_seconds", RECORDING_STALL_S)
        c["recording"] = check_recording(
            settings.recorder_redis_url, settings.events_stream, stall_s
        )
        if c["database"]["ok"] and all(c["database"]["tables_accessible"].values()):
            stale = _setting(settings, "stale_agent_seconds", 60.0)
            window = _setting(settings, "metrics_period_minutes", 5.0) * 60.0
            c["workers"] = check_workers(db_store, stale, ping_app)
            if c["workers"]["ok"]:
                _add_progress(c["workers"], settings)
            c["executions"] = check_executions(db_store, window)
        c["supabase"] = check_supabase(settings)
        reconcile = check_reconcile(settings.recorder_redis_url)
        if reconcile is not None:
            c["reconcile"] = reconcile
        mirror = check_mirror(settings, db_store)
        if mirror is not None:
            c["mirror"] = mirror
    finally:
        if own:
            db_store.close()
    return c


def _add_progress(workers: dict[str, Any], settings: Settings) -> None:
    """The online workers' own reports of what they hold and when they last got anywhere;
    a stalled one makes the workers unhealthy (``workers/health/progress.py``)."""
    stall_s = _setting(settings, "worker_stall_seconds", 300.0)
    progress = check_progress(settings.recorder_redis_url, workers["online_workers"], stall_s)
    workers["progress"] = progress
    workers["stalled"] = progress["stalled"]
    if progress["stalled"]:
        workers["status"] = "unhealthy"


def health_row(report: dict[str, Any]) -> dict[str, Any]:
    """The ``system_health`` row of a :func:`health_check` report
    (for :func:`persistence.health.store_system_health`)."""
    c = report.get("components", {})
    w, ex = c.get("workers", {}), c.get("executions", {})
    open_ = ex.get("open") or {}
    window_min = (ex.get("window_seconds") or 300.0) / 60.0
    ended = ex.get("ended") or 0
    rate = ex.get("error_rate")
    bad = len(_unhealthy_reasons(c))
    return {
        "timestamp": report.get("checked_at"),
        "period_minutes": max(1, round(window_min)),
        "total_agents": w.get("total", 0),
        "active_agents": w.get("online", 0),
        "idle_agents": w.get("idle", 0),
        "busy_agents": w.get("busy", 0),
        "error_agents": w.get("error", 0),
        "total_tasks": sum((ex.get("by_status") or {}).values()),
        "completed_tasks": ex.get("completed", 0),
        "failed_tasks": ex.get("failed", 0),
        "queued_tasks": sum(open_.get(s, 0) for s in ("pending", "queued", "retrying")),
        "running_tasks": open_.get("running", 0),
        "system_success_rate": 100.0 - rate if rate is not None else 0.0,
        "system_error_rate": rate if rate is not None else 0.0,
        "average_response_time": ex.get("avg_s") or 0.0,
        "p95_response_time": ex.get("p95_s") or 0.0,
        "tasks_per_minute": ended / window_min,
        "tasks_per_hour": ended / window_min * 60.0,
        "queue_length": c.get("queues", {}).get("total", 0),
        "average_queue_wait_time": ex.get("avg_queue_wait_s") or 0.0,
        "critical_issues": bad,
        "warnings": len(report.get("reasons", [])) - bad,
        "custom_metrics": {
            "p50_execution_time": ex.get("p50_s"),
            "recording_backlog": c.get("recording", {}).get("backlog"),
            "recording_lag_seconds": c.get("recording", {}).get("oldest_age_seconds"),
            "response_time_ms": report.get("response_time_ms"),
        },
        "status": report.get("status"),
        "details": {"reasons": report.get("reasons", []), "components": c},
    }
