"""Beat's housekeeping tasks, registered on an app without building it.

Each task is idempotent: a rerun, or two beat processes ticking at once, leaves the
database as one run would. ``beat_schedule.py`` says how often each one runs; the
logic lives in ``persistence`` (one set-based statement per run).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from celery import Celery

from persistence.sql_store import SQLStore

logger = logging.getLogger(__name__)


def register_beat_tasks(app: Celery) -> None:
    """Register every beat task on ``app``."""
    _register_metrics(app)


@functools.cache
def _store(url: str) -> SQLStore:
    """One pooled store per database per process (SQLStore re-creates its engine after fork)."""
    return SQLStore(url, pool_size=1)


def _setting(name: str, env: str, default: int) -> int:
    """``workers.settings`` field ``name`` when it exists, else ``env``, else ``default``."""
    from workers.settings import get_settings

    value = getattr(get_settings(), name, None)
    if value is None:
        return int(os.environ.get(env) or default)
    return int(value)


# === metrics aggregation (agentq.beat.aggregate_metrics) ==========================
METRICS_TASK = "agentq.beat.aggregate_metrics"


def aggregate_agent_metrics() -> int:
    """Aggregate every closed metrics period not yet aggregated; returns rows upserted.

    Period length and backfill bound: ``AGENTQ_METRICS_PERIOD_MINUTES`` (5) and
    ``AGENTQ_METRICS_BACKFILL_PERIODS`` (288, one day of 5-minute periods).
    """
    from persistence.metrics import aggregate_metrics
    from workers.settings import get_settings

    minutes = _setting("metrics_period_minutes", "AGENTQ_METRICS_PERIOD_MINUTES", 5)
    backfill = _setting("metrics_backfill_periods", "AGENTQ_METRICS_BACKFILL_PERIODS", 288)
    rows = aggregate_metrics(
        _store(get_settings().sqlalchemy_url),
        period_minutes=minutes,
        backfill_periods=backfill,
    )
    logger.info(
        "metrics aggregated",
        extra={"action": "aggregate_metrics", "rows": rows, "period_minutes": minutes},
    )
    return rows


def _register_metrics(app: Celery) -> None:
    def run(self: Any) -> int:
        return aggregate_agent_metrics()

    run.__doc__ = aggregate_agent_metrics.__doc__
    # A housekeeping task must never hold a pool process for long: hard limit 5 min.
    app.task(
        run, bind=True, name=METRICS_TASK, ignore_result=True, soft_time_limit=240, time_limit=300
    )


# === end of metrics aggregation ====================================================
