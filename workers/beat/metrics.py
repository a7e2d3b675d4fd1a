"""Beat's housekeeping tasks, registered on an app without building it.

Each task is idempotent: a rerun, or two beat processes ticking at once, leaves the
database as one run would. ``beat_schedule.py`` says how often each one runs; the
logic lives in ``persistence`` (one set-based statement per run).
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import Celery, Task

from persistence.metrics import aggregate_metrics, aggregate_metrics_rows
from persistence.mirror import Mirror
from persistence.outbox import OP_METRICS
from persistence.sql_store import SQLStore
from workers.beat.names import AGGREGATE_METRICS
from workers.settings import Settings, get_settings
from workers.stores import get_mirror, get_store

logger = logging.getLogger(__name__)


# === metrics aggregation (agentq.beat.aggregate_metrics) ==========================


def aggregate_agent_metrics() -> int:
    """Aggregate every closed metrics period not yet aggregated; returns rows upserted.

    Period length and backfill bound: ``AGENTQ_METRICS_PERIOD_MINUTES`` (5) and
    ``AGENTQ_METRICS_BACKFILL_PERIODS`` (288, one day of 5-minute periods). In dual mode
    the rows upserted reach the mirror as the primary computed them.
    """
    return run_aggregate_metrics()


def run_aggregate_metrics(
    settings: Settings | None = None,
    store: SQLStore | None = None,
    mirror: Mirror | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """:func:`aggregate_agent_metrics` on ``store`` and ``mirror`` (default: the
    process's primary and the mirror the settings name; with a store given, only the
    mirror given), up to ``now`` (default: the database's now)."""
    settings = settings or get_settings()
    if store is None:
        store, mirror = get_store(), get_mirror()
    minutes = settings.metrics_period_minutes
    backfill = settings.metrics_backfill_periods
    if mirror is None:
        count = aggregate_metrics(store, period_minutes=minutes, now=now, backfill_periods=backfill)
    else:
        rows = aggregate_metrics_rows(
            store, period_minutes=minutes, now=now, backfill_periods=backfill
        )
        count = len(rows)
        if rows:
            mirror.effect(OP_METRICS, {"rows": rows}, count)
    logger.info(
        "metrics aggregated",
        extra={"action": "aggregate_metrics", "rows": count, "period_minutes": minutes},
    )
    return count


def register_metrics_task(app: Celery) -> None:
    def run(self: Task) -> int:
        return aggregate_agent_metrics()

    run.__doc__ = aggregate_agent_metrics.__doc__
    # A housekeeping task must never hold a pool process for long: hard limit 5 min.
    app.task(
        run,
        bind=True,
        name=AGGREGATE_METRICS,
        ignore_result=True,
        soft_time_limit=240,
        time_limit=300,
    )


# === end of metrics aggregation ====================================================
