"""Beat's housekeeping tasks, registered on an app without building it.

Each task is idempotent: a rerun, or two beat processes ticking at once, leaves the
database as one run would. ``beat_schedule.py`` says how often each one runs; the
logic lives in ``persistence`` (one set-based statement per run).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from workers.beat.names import AGGREGATE_METRICS

logger = logging.getLogger(__name__)


# === metrics aggregation (agentq.beat.aggregate_metrics) ==========================


def aggregate_agent_metrics() -> int:
    """Aggregate every closed metrics period not yet aggregated; returns rows upserted.

    Period length and backfill bound: ``AGENTQ_METRICS_PERIOD_MINUTES`` (5) and
    ``AGENTQ_METRICS_BACKFILL_PERIODS`` (288, one day of 5-minute periods).
    """
    from persistence.metrics import aggregate_metrics
    from workers.settings import get_settings
    from workers.stores import get_store

    settings = get_settings()
    minutes = settings.metrics_period_minutes
    backfill = settings.metrics_backfill_periods
    rows = aggregate_metrics(
        get_store(),
        period_minutes=minutes,
        backfill_periods=backfill,
    )
    logger.info(
        "metrics aggregated",
        extra={"action": "aggregate_metrics", "rows": rows, "period_minutes": minutes},
    )
    return rows


def register_metrics_task(app: Celery) -> None:
    def run(self: Any) -> int:
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
