"""celery beat's tasks: metrics aggregation, system health, stale agents, retention,
the partitions ahead, the Supabase outbox replay and the reconciler. Their names:
``workers/beat/names.py``; how often each runs: ``beat_schedule.py``."""

from __future__ import annotations

from celery import Celery

from workers.beat.housekeeping import register_housekeeping_tasks
from workers.beat.metrics import register_metrics_task
from workers.beat.mirror import register_mirror_tasks
from workers.beat.partitions import register_partition_tasks
from workers.beat.reconcile import register_reconcile_task


def register_beat_tasks(app: Celery) -> None:
    """Register every beat task on ``app``."""
    register_metrics_task(app)
    register_housekeeping_tasks(app)
    register_partition_tasks(app)
    register_mirror_tasks(app)
    register_reconcile_task(app)
