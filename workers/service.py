"""The integration design's service calls (metrics, health), on the database the settings
name (one store per process).

from workers.service import get_agent_metrics, health_check
rows = get_agent_metrics("quiz_generator@worker-1", hours=24)
"""

from __future__ import annotations

from typing import Any

from persistence import health as _health
from persistence import metrics as _metrics
from workers.stores import get_store


def store_agent_metrics(metrics: dict[str, Any]) -> str:
    """Upsert one ``agent_metrics`` row (by instance ``agent_id`` or per type); its id."""
    return _metrics.store_agent_metrics(get_store(), metrics)


def get_agent_metrics(agent_id: str | None, hours: float = 24) -> list[dict[str, Any]]:
    """Metrics rows of ``agent_id`` (``<agent_type>@<worker>``; None: all) of the last hours."""
    return _metrics.get_agent_metrics(get_store(), agent_id, hours)


def health_check() -> dict[str, Any]:
    """The integration design's health report (status, response_time_ms, tables_accessible,
    realtime_enabled) plus per-component details; never raises."""
    from workers.health.report import health_check as _check

    return _check(store=get_store())


def store_system_health(row: dict[str, Any]) -> str:
    """Insert one ``system_health`` row (seed columns plus ``status`` and ``details``)."""
    return _health.store_system_health(get_store(), row)
