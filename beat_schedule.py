"""What celery beat runs, and how often: declarations only.

The logic of each entry lives in ``workers/beat/``, its name in
``workers/beat/names.py``; every entry is idempotent, so two beat processes (or a
restarted one) never double-count. Periods come from the environment
(``AGENTQ_METRICS_INTERVAL_SECONDS``, ``AGENTQ_HEALTH_INTERVAL_SECONDS``,
``AGENTQ_REAPER_INTERVAL_SECONDS``, ``AGENTQ_RETENTION_INTERVAL_SECONDS``,
``AGENTQ_OUTBOX_REPLAY_SECONDS``, ``AGENTQ_RECONCILE_INTERVAL``).
"""

from __future__ import annotations

from typing import Any

from workers.beat import names


def build_schedule(settings: Any) -> dict[str, dict[str, Any]]:
    """The beat schedule for ``settings`` (a ``workers.settings.Settings``)."""
    return {
        # Runs more often than the period so a closed period is aggregated soon after
        # it closes; reruns are no-ops (unique key + upsert).
        "aggregate-agent-metrics": {
            "task": names.AGGREGATE_METRICS,
            "schedule": settings.metrics_interval_seconds,
        },
        "system-health": {
            "task": names.SYSTEM_HEALTH,
            "schedule": settings.health_interval_seconds,
        },
        "reap-stale-agents": {
            "task": names.REAP_STALE,
            "schedule": settings.reaper_interval_seconds,
        },
        "retention": {
            "task": names.RETENTION,
            "schedule": settings.retention_interval_seconds,
        },
        # The coming weeks' partitions (docs/schema.md#partitions): as often as retention.
        "partitions-ahead": {
            "task": names.PARTITIONS,
            "schedule": settings.retention_interval_seconds,
        },
        # What the Supabase mirror missed, in order (a no-op without a mirror).
        "replay-mirror-outbox": {
            "task": names.REPLAY_OUTBOX,
            "schedule": settings.outbox_replay_seconds,
        },
        # The record against the broker: lost, unrecorded, stuck ... (docs/reconcile.md).
        "reconcile": {
            "task": names.RECONCILE,
            "schedule": settings.reconcile_interval_seconds,
        },
    }
