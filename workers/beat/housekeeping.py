"""Beat's health, reaper and retention tasks (scheduled in ``beat_schedule.py``).

* ``agentq.beat.system_health`` — :func:`workers.health.checks.health_check`, stored as one
  ``system_health`` row; returns the status and reasons.
* ``agentq.beat.reap_stale`` — stale instances become offline, then executions lost
  with their worker become failed ('worker lost'); see :mod:`persistence.health`.
* ``agentq.beat.retention`` — deletes old terminal executions (history cascades),
  metrics and health rows in bounded batches within a time budget.

In dual mode every write reaches the mirror too, after the primary: the health row, the
offline marks and retention's deletes as the primary made them, the "worker lost"
failures as transitions (:mod:`persistence.mirror_effects`); what the mirror cannot take
waits in the outbox. Every task is idempotent: a rerun, or two beats, change nothing
twice. Timeouts and ages come from the settings (``AGENTQ_STALE_AGENT_SECONDS`` 60,
``AGENTQ_VISIBILITY_TIMEOUT`` 1800, ``AGENTQ_RETENTION_EXECUTIONS_DAYS`` 30,
``AGENTQ_RETENTION_METRICS_DAYS`` 90, ``AGENTQ_RETENTION_HEALTH_DAYS`` 14).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from persistence.formatting import one_line
from persistence.health import (
    RecordingOnEngine,
    fail_lost_executions,
    mark_stale_instances,
    purge_old,
    store_system_health,
    system_health_rows,
)
from persistence.mirror import Mirror, MirroredStore
from persistence.outbox import OP_HEALTH, OP_OFFLINE, OP_PURGE
from persistence.sql_store import SQLStore
from workers.beat.names import REAP_STALE, RETENTION, SYSTEM_HEALTH
from workers.health.report import health_check, health_row
from workers.settings import Settings, get_settings
from workers.stores import get_mirror, get_store

logger = logging.getLogger(__name__)


def _databases(store: SQLStore | None, mirror: Mirror | None) -> tuple[SQLStore, Mirror | None]:
    """The primary and its mirror: the process's own (the producer's pooled store, created
    after fork on first use; the mirror the settings name) unless a store is given, and
    then the mirror given with it (None: the primary only)."""
    if store is not None:
        return store, mirror
    return get_store(), get_mirror()


def run_system_health(
    settings: Settings | None = None, store: SQLStore | None = None, mirror: Mirror | None = None
) -> dict[str, Any]:
    settings = settings or get_settings()
    store, mirror = _databases(store, mirror)
    report = health_check(settings, store=store)
    row_id = None
    try:
        row_id = store_system_health(store, health_row(report))
        if mirror is not None:
            mirror.effect(OP_HEALTH, {"rows": system_health_rows(store, [row_id])}, 1)
    except Exception as exc:  # the database is down: the report says so already
        logger.warning("system health not stored (or not mirrored): %s", exc)
    if report["status"] != "healthy":
        logger.warning("system %s: %s", report["status"], "; ".join(report["reasons"]))
    return {"status": report["status"], "reasons": report["reasons"], "id": row_id}


def run_reap_stale(
    settings: Settings | None = None, store: SQLStore | None = None, mirror: Mirror | None = None
) -> dict[str, int]:
    settings = settings or get_settings()
    store, mirror = _databases(store, mirror)
    stale = settings.stale_agent_seconds
    marks = None if mirror is None else _mirror_offline(mirror)
    offline = mark_stale_instances(store, stale, on_offline=marks)
    # Mirrored, the "worker lost" failures are transitions with their event ids.
    recorder: RecordingOnEngine = store if mirror is None else MirroredStore(store, mirror)
    lost = fail_lost_executions(
        recorder, settings.visibility_timeout, stale_s=stale, on_offline=marks
    )
    forgotten = _forget_old_progress_reports(settings)
    if offline or lost:
        logger.info("reaper: %d instances offline, %d executions lost", offline, lost)
    return {"instances_offline": offline, "executions_lost": lost, "reports_forgotten": forgotten}


def _forget_old_progress_reports(settings: Settings) -> int:
    """The progress reports workers left behind when killed (workers/health/lost_workers.py),
    deleted once they are too old to be news; Redis away: tried again next period."""
    from workers.health.checks import _redis
    from workers.health.lost_workers import forget_old_reports

    client = _redis(settings.recorder_redis_url)
    try:
        return forget_old_reports(client, time.time())
    except Exception as exc:
        logger.warning("reaper: old progress reports not forgotten: %s", one_line(exc))
        return 0
    finally:
        client.close()


def run_retention(
    settings: Settings | None = None, store: SQLStore | None = None, mirror: Mirror | None = None
) -> dict[str, Any]:
    settings = settings or get_settings()
    store, mirror = _databases(store, mirror)

    def mirror_deletes(table: str, keys: list[str]) -> None:
        assert mirror is not None
        mirror.effect(OP_PURGE, {"table": table, "keys": keys}, len(keys))

    result = purge_old(
        store,
        settings.retention_executions_days,
        settings.retention_metrics_days,
        settings.retention_health_days,
        batch=settings.retention_batch,
        budget_s=settings.retention_budget_seconds,
        on_deleted=None if mirror is None else mirror_deletes,
    )
    logger.info("retention: %s", result)
    return result


def _mirror_offline(mirror: Mirror) -> Callable[[list[str]], None]:
    def mark(agent_ids: list[str]) -> None:
        mirror.effect(OP_OFFLINE, {"agent_ids": agent_ids}, len(agent_ids))

    return mark


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
