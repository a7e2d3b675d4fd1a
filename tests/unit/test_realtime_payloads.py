"""The realtime bridge's pure parts: settings, channels, payloads, trimming, batching,
coalescing and the circuit breaker (no server involved)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pybreaker
import pytest

from workers.realtime.breaker import PusherBreaker
from workers.realtime.changes import PendingChanges, parse_notification
from workers.realtime.channels import private_user_channel, table_channel, user_channel
from workers.realtime.config import RealtimeConfig
from workers.realtime.payloads import MAX_EVENT_BYTES, build_payload, events_for
from workers.realtime.pusher_sink import MAX_BATCH_EVENTS, batches
from workers.settings import SettingsError, load_settings

PUSHER = {
    "pusher_app_id": "1",
    "pusher_key": "key",
    "pusher_secret": "very-secret-value",
    "pusher_host": "127.0.0.1",
}


def config(**overrides: Any) -> RealtimeConfig:
    return RealtimeConfig.from_settings(load_settings(**{**PUSHER, **overrides}))


def execution(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "task_id": "t-1",
        "agent_type": "quiz_generator",
        "status": "running",
        "user_id": None,
        "updated_at": now,
        "created_at": now,
        "error_message": None,
        "output_data": {"questions": [1, 2, 3]},
        **fields,
    }


# --- settings ----------------------------------------------------------------------------
def test_missing_pusher_settings_are_named() -> None:
    with pytest.raises(SettingsError) as err:
        RealtimeConfig.from_settings(load_settings())
    for name in ("PUSHER_APP_ID", "PUSHER_KEY", "PUSHER_SECRET", "PUSHER_CLUSTER"):
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("realtime_tables", "agent_executions,jobs", "AGENTQ_REALTIME_TABLES"),
        ("realtime_statuses", "completed,done", "AGENTQ_REALTIME_STATUSES"),
        ("realtime_execution_fields", "input_data", "AGENTQ_REALTIME_EXECUTION_FIELDS"),
    ],
)
def test_bad_realtime_lists_are_named(field: str, value: str, variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        config(**{field: value})


def test_bad_channel_prefix_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTQ_REALTIME_CHANNEL_PREFIX", "no spaces/allowed")
    with pytest.raises(SettingsError, match="AGENTQ_REALTIME_CHANNEL_PREFIX"):
        load_settings()


def test_secret_never_in_descriptions() -> None:
    cfg = config()
    assert "very-secret-value" not in cfg.pusher.describe() + repr(cfg)
    assert "127.0.0.1" in cfg.pusher.describe()


# --- channels and payloads -------------------------------------------------------------
def test_channel_names() -> None:
    assert table_channel("agentq", "agent_executions") == "agentq-executions"
    assert table_channel("agentq", "agent_instances") == "agentq-agents"
    assert table_channel("agentq", "agent_metrics") == "agentq-metrics"
    assert table_channel("agentq", "system_health") == "agentq-health"
    uid = str(uuid.uuid4())
    assert user_channel("agentq", uid) == f"agentq-user-{uid}"
    assert user_channel("agentq", "x" * 200) is None  # over Pusher's 164 characters
    assert private_user_channel("agentq", uid) == f"private-agentq-user-{uid}"
    assert private_user_channel("agentq", "x" * 150) is None  # "private-" makes it 172
    assert private_user_channel("agentq", "a b") is None


def test_execution_events_go_to_the_table_and_the_users_private_channel() -> None:
    cfg = config()
    uid = uuid.uuid4()
    row = execution(user_id=uid)
    payload = build_payload("agent_executions", row, cfg)
    assert payload is not None
    events = events_for("agent_executions", row, payload, cfg)
    assert [e.channel for e in events] == ["agentq-executions", f"private-agentq-user-{uid}"]
    assert {e.name for e in events} == {"execution.updated"}
    data = json.loads(events[0].data)
    assert data["task_id"] == "t-1" and data["status"] == "running"
    assert data["user_id"] == str(uid)
    assert "output_data" not in data  # not unless asked for
    assert "input_data" not in data


def test_health_rows_go_to_the_health_channel_and_trim_to_their_verdict() -> None:
    cfg = config(realtime_channel_prefix="app")
    row = {
        "id": uuid.uuid4(),
        "timestamp": datetime.now(UTC),
        "status": "unhealthy",
        "overall_health_score": 0.0,
        "reasons": ["database unreachable: " + "x" * 11_000],
    }
    payload = build_payload("system_health", row, cfg)
    assert payload is not None
    [event] = events_for("system_health", row, payload, cfg)
    assert (event.channel, event.name, event.trimmed) == ("app-health", "health.updated", True)
    assert set(json.loads(event.data)) == {
        "id",
        "timestamp",
        "status",
        "overall_health_score",
        "trimmed",
    }
    assert build_payload("system_health", row, config(realtime_tables="agent_executions")) is None


def test_fields_and_user_channels_are_settings() -> None:
    cfg = config(
        realtime_execution_fields="output_data,quality_score", realtime_user_channels=False
    )
    row = execution(user_id=uuid.uuid4(), quality_score=0.5)
    payload = build_payload("agent_executions", row, cfg)
    assert payload is not None
    assert set(payload) == {"id", "task_id", "status", "updated_at", "output_data", "quality_score"}
    assert [e.channel for e in events_for("agent_executions", row, payload, cfg)] == [
        "agentq-executions"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"realtime_private_user_channels": False}, ["agentq-executions", "agentq-user-{u}"]),
        ({"realtime_public_channels": False}, ["private-agentq-user-{u}"]),
        ({"realtime_public_channels": False, "realtime_user_channels": False}, []),
    ],
)
def test_private_and_public_channels_are_settings(
    overrides: dict[str, Any], expected: list[str]
) -> None:
    cfg = config(**overrides)
    uid = uuid.uuid4()
    row = execution(user_id=uid)
    payload = build_payload("agent_executions", row, cfg)
    assert payload is not None
    channels = [e.channel for e in events_for("agent_executions", row, payload, cfg)]
    assert channels == [c.format(u=uid) for c in expected]
    instance = {"id": uuid.uuid4(), "agent_id": "a@w", "status": "idle"}
    agent_events = events_for("agent_instances", instance, dict(instance), cfg)
    public = overrides.get("realtime_public_channels", True)
    assert [e.channel for e in agent_events] == (["agentq-agents"] if public else [])


def test_status_and_table_filters() -> None:
    cfg = config(realtime_statuses="completed,failed", realtime_tables="agent_executions")
    assert build_payload("agent_executions", execution(status="running"), cfg) is None
    assert build_payload("agent_executions", execution(status="completed"), cfg) is not None
    assert build_payload("agent_instances", {"id": uuid.uuid4(), "status": "idle"}, cfg) is None


def test_large_payload_is_trimmed_to_ids_and_status() -> None:
    cfg = config()
    row = execution(error_message="x" * (MAX_EVENT_BYTES + 1), status="failed")
    payload = build_payload("agent_executions", row, cfg)
    assert payload is not None
    (event,) = events_for("agent_executions", row, payload, cfg)
    assert event.trimmed
    assert len(event.data.encode()) <= MAX_EVENT_BYTES
    data = json.loads(event.data)
    assert data == {
        "id": str(row["id"]),
        "task_id": "t-1",
        "status": "failed",
        "updated_at": row["updated_at"].isoformat(),
        "trimmed": True,
    }


# --- batching and coalescing -----------------------------------------------------------
def test_batches_keep_order_and_pushers_limit() -> None:
    items = list(range(23))
    got = list(batches(items, MAX_BATCH_EVENTS))  # type: ignore[arg-type]
    assert [len(b) for b in got] == [10, 10, 3]
    assert [x for b in got for x in b] == items


def test_pending_changes_coalesce_in_order_of_first_appearance() -> None:
    pending = PendingChanges()
    assert pending.add("agent_executions", ["a", "b"]) == (2, 0)
    assert pending.add("agent_instances", ["a"]) == (1, 0)  # other table: other row
    assert pending.add("agent_executions", ["b", "c", "a"]) == (3, 2)
    assert pending.take() == [
        ("agent_executions", "a"),
        ("agent_executions", "b"),
        ("agent_instances", "a"),
        ("agent_executions", "c"),
    ]
    assert len(pending) == 0
    assert pending.restore([("agent_executions", "a"), ("agent_executions", "a")]) == 1


def test_notification_payloads() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert parse_notification(f"agent_executions:{a},{b}") == ("agent_executions", [a, b])
    assert parse_notification("garbage") is None
    assert parse_notification("agent_executions:") is None
    assert parse_notification(f"agent_executions:{a},x'; drop") is None


# --- circuit breaker --------------------------------------------------------------------
def test_breaker_opens_after_failures_and_closes_after_a_good_trial() -> None:
    breaker = PusherBreaker(failures=2, reset_s=0.05)

    def fail() -> None:
        raise RuntimeError("pusher down")

    with pytest.raises(RuntimeError):
        breaker.call(fail)
    with pytest.raises(RuntimeError):
        breaker.call(fail)  # the second failure opens it
    assert breaker.state == "open" and breaker.opened == 1
    calls: list[int] = []
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(calls.append, 1)  # open: not called at all
    assert calls == []
    assert not breaker.take_recovered()

    import time

    time.sleep(0.06)
    breaker.call(calls.append, 2)  # trial call after the reset timeout
    assert calls == [2]
    assert breaker.state == "closed"
    assert breaker.take_recovered() and not breaker.take_recovered()
