"""The integration design's service calls on the session database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers import service, stores


def test_seed_service_calls(clean: str) -> None:
    stores.get_store.cache_clear()
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    row_id = service.store_agent_metrics(
        {
            "agent_type": "quiz_generator",
            "period_start": start,
            "period_end": start + timedelta(minutes=5),
            "period_duration_minutes": 5,
            "tasks_completed": 7,
            "success_rate": 87.5,
        }
    )
    assert row_id
    rows = service.get_agent_metrics(None, hours=1)
    assert [(r["tasks_completed"], r["success_rate"]) for r in rows] == [(7, 87.5)]
    report = service.health_check()
    assert set(report) >= {"status", "response_time_ms", "tables_accessible", "realtime_enabled"}
    assert report["tables_accessible"] == {
        "agent_instances": True,
        "agent_executions": True,
        "agent_metrics": True,
    }
    health_id = service.store_system_health({"status": report["status"], "total_agents": 0})
    assert health_id
