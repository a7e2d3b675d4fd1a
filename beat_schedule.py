"""What celery beat runs, and how often: declarations only.

The logic of each entry lives in ``tasks/``; every entry is idempotent, so two beat
processes (or a restarted one) never double-count. Periods come from the environment
(``AGENTQ_METRICS_INTERVAL_SECONDS``, ``AGENTQ_HEALTH_INTERVAL_SECONDS``,
``AGENTQ_REAPER_INTERVAL_SECONDS``, ``AGENTQ_RETENTION_INTERVAL_SECONDS``,
``AGENTQ_OUTBOX_REPLAY_SECONDS``).
"""

from __future__ import annotations

from typing import Any


def build_schedule(settings: Any) -> dict[str, dict[str, Any]]:
    """The beat schedule for ``settings`` (a ``workers.settings.Settings``)."""
    return {
        # Runs more often than the period so a closed period is aggregated soon after
        # it closes; reruns are no-ops (unique key + upsert).
        "aggregate-agent-metrics": {
            "task": "agentq.beat.aggregate_metrics",
            "schedule": settings.metrics_interval_seconds,
        },
        "system-health": {
            "task": "agentq.beat.system_health",
            "schedule": settings.health_interval_seconds,
        },
        "reap-stale-agents": {
            "task": "agentq.beat.reap_stale",
            "schedule": settings.reaper_interval_seconds,
        },
        "retention": {
            "task": "agentq.beat.retention",
            "schedule": settings.retention_interval_seconds,
        },
        # What the Supabase mirror missed, in order (a no-op without a mirror).
        "replay-mirror-outbox": {
            "task": "agentq.beat.replay_outbox",
            "schedule": settings.outbox_replay_seconds,
        },
    }
