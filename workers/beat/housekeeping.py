"""Beat's health, reaper and retention tasks (scheduled in ``beat_schedule.py``).

* ``agentq.beat.system_health`` — :func:`workers.health.checks.health_check`, stored as one
  ``system_health`` row; returns the status and reasons.
* ``agentq.beat.reap_stale`` — stale instances become offline, then executions lost
  with their worker become failed ('worker lost'); see :mod:`persistence.health`.
* ``agentq.beat.retention`` — deletes old terminal executions (history cascades),
  metrics and health rows in bounded batches within a time budget.

Every task is idempotent: a rerun, or two beats, change nothing twice. Timeouts and
ages come from the settings (``AGENTQ_STALE_AGENT_SECONDS`` 60,
``AGENTQ_VISIBILITY_TIMEOUT`` 1800, ``AGENTQ_RETENTION_EXECUTIONS_DAYS`` 30,
``AGENTQ_RETENTION_METRICS_DAYS`` 90, ``AGENTQ_RETENTION_HEALTH_DAYS`` 14).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from persistence.sql_store import SQLStore
from workers.beat.names import REAP_STALE, RETENTION, SYSTEM_HEALTH

logger = logging.getLogger(__name__)


def _settings() -> Any:
    from workers.settings import get_settings

    return get_settings()


def _get_store(settings: Any) -> SQLStore:
    # The process's one pooled store (the producer's), created after fork on first use.
    from workers.stores import get_store

    return get_store()


def run_system_health(settings: Any = None, store: SQLStore | None = None) -> dict[str, Any]:
    from persistence.health import store_system_health
    from workers.health.report import health_check, health_row

    settings = settings or _settings()
    store = store or _get_store(settings)
    report = health_check(settings, store=store)
    try:
        row_id = store_system_health(store, health_row(report))
    except Exception as exc:  # the database is down: the report says so already
        logger.warning("system health not stored: %s", exc)
        row_id = None
    if report["status"] != "healthy":
        logger.warning("system %s: %s", report["status"], "; ".join(report["reasons"]))
    return {"status": report["status"], "reasons": report["reasons"], "id": row_id}


def run_reap_stale(settings: Any = None, store: SQLStore | None = None) -> dict[str, int]:
    from persistence.health import fail_lost_executions, mark_stale_instances

    settings = settings or _settings()
    store = store or _get_store(settings)
    stale = settings.stale_agent_seconds
    offline = mark_stale_instances(store, stale)
    lost = fail_lost_executions(store, settings.visibility_timeout, stale_s=stale)
    if offline or lost:
        logger.info("reaper: %d instances offline, %d executions lost", offline, lost)
    return {"instances_offline": offline, "executions_lost": lost}


def run_retention(settings: Any = None, store: SQLStore | None = None) -> dict[str, Any]:
    from persistence.health import purge_old

    settings = settings or _settings()
    store = store or _get_store(settings)
    result = purge_old(
        store,
        settings.retention_executions_days,
        settings.retention_metrics_days,
        settings.retention_health_days,
        batch=settings.retention_batch,
        budget_s=settings.retention_budget_seconds,
    )
    logger.info("retention: %s", result)
    return result


def system_health() -> dict[str, Any]:
    """Compute the system's health and store it in ``system_health``."""
    return run_system_health()


def reap_stale() -> dict[str, int]:
    """Stale agent instances become offline; executions lost with their worker fail."""
    return run_reap_stale()


def retention() -> dict[str, Any]:
    """Delete old terminal executions, metrics and health rows, in bounded batches."""
    return run_retention()


def register_housekeeping_tasks(app: Celery) -> None:
    """Register the three beat tasks on ``app`` (routed to the beat queue by name)."""
    # Housekeeping must never hold a pool process for long: hard limits.
    limits = {"ignore_result": True, "soft_time_limit": 240, "time_limit": 300}
    app.task(system_health, name=SYSTEM_HEALTH, **limits)
    app.task(reap_stale, name=REAP_STALE, **limits)
    app.task(retention, name=RETENTION, **limits)
