"""The integration design's record calls (the SupabaseService API), as one protocol for
every backend.

Backends: :class:`persistence.sql_records.SQLRecords` (any PostgreSQL) and
:class:`persistence.supabase_rest.SupabaseRestStore` (PostgREST). Both take and
return plain dicts, as PostgREST's JSON gives them: timestamps as ISO 8601 strings,
UUIDs as strings, jsonb as dicts. ``create_*`` are idempotent upserts by the natural
key (``agent_id``, ``task_id``), so a replayed call changes nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Table

from persistence.lifecycle import TERMINAL, TaskStatus, Transition
from persistence.schema import agent_executions, agent_instances, agent_metrics, system_health

# Columns a caller may not set: the database owns them.
_OWNED = frozenset({"id", "updated_at"})
# Columns the database stamps with now() unless given: a mirror is given the primary's.
STAMPED = ("created_at", "last_activity", "last_heartbeat", "timestamp")


class Records(Protocol):
    def create_agent_instance(self, data: Mapping[str, Any]) -> dict[str, Any]: ...
    def update_agent_instance(
        self, agent_id: str, updates: Mapping[str, Any]
    ) -> dict[str, Any]: ...
    def get_agent_instance(self, agent_id: str) -> dict[str, Any] | None: ...
    def get_all_agent_instances(self) -> list[dict[str, Any]]: ...
    def create_task_execution(self, data: Mapping[str, Any]) -> dict[str, Any]: ...
    def update_task_execution(
        self,
        task_id: str,
        updates: Mapping[str, Any],
        *,
        event_id: str | uuid.UUID | None = None,
        at: str | datetime | None = None,
    ) -> dict[str, Any]: ...
    def get_task_execution(self, task_id: str) -> dict[str, Any] | None: ...
    def get_agent_task_history(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def store_agent_metrics(self, data: Mapping[str, Any]) -> dict[str, Any]: ...
    def get_agent_metrics(
        self, agent_id: str | None, hours: float = 24
    ) -> list[dict[str, Any]]: ...
    def store_system_health(self, data: Mapping[str, Any]) -> dict[str, Any]: ...
    def ping(self) -> float:
        """One round trip to the database; milliseconds."""
        ...


def columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns)


def clean(
    table: Table,
    data: Mapping[str, Any],
    *,
    required: Iterable[str] = (),
    extra: Iterable[str] = (),
) -> dict[str, Any]:
    """``data`` checked against ``table``: a ValueError names unknown or missing keys.
    ``extra`` names keys that are not columns but that the call understands."""
    allowed = columns(table) - _OWNED | set(extra)
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown {table.name} columns: {', '.join(sorted(unknown))}")
    missing = [k for k in required if data.get(k) is None]
    if missing:
        raise ValueError(f"{table.name} needs {', '.join(missing)}")
    return dict(data)


def instance_row(data: Mapping[str, Any]) -> dict[str, Any]:
    row = clean(agent_instances, data, required=("agent_id", "agent_type"))
    row.setdefault("status", "initializing")
    return row


def execution_row(data: Mapping[str, Any]) -> dict[str, Any]:
    row = clean(agent_executions, data, required=("task_id", "agent_type", "task_type"))
    row.setdefault("status", "pending")
    if row.get("user_id") is not None:
        row["user_id"] = str(uuid.UUID(str(row["user_id"])))
    return row


def metrics_row(data: Mapping[str, Any]) -> dict[str, Any]:
    row = clean(agent_metrics, data, required=("period_start", "period_end"), extra=("agent_id",))
    if "period_duration_minutes" not in row:
        span = _as_datetime(row["period_end"]) - _as_datetime(row["period_start"])
        row["period_duration_minutes"] = round(span.total_seconds() / 60)
    return row


def health_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """Unknown keys are ignored, as :func:`persistence.health.store_system_health` does."""
    return {k: v for k, v in data.items() if k in columns(system_health) - {"id"}}


def updates_for(table: Table, updates: Mapping[str, Any]) -> dict[str, Any]:
    row = clean(table, updates)
    if not row:
        raise ValueError(f"no {table.name} columns to update")
    return row


# With a status, what the transition carries: these change only when it wins the merge.
_RESULT = ("output_data", "quality_score", "execution_time_seconds", "error_message", "error_type")
_TRANSITION = frozenset({"status", "retry_count", "worker", "status_at", *_RESULT})


def status_change(
    row: Mapping[str, Any],
    updates: Mapping[str, Any],
    *,
    event_id: str | uuid.UUID | None = None,
    at: str | datetime | None = None,
) -> tuple[Transition, dict[str, Any]]:
    """``update_task_execution``'s status change as a lifecycle transition of the
    execution ``row``, and the columns left for a plain update.

    The transition is the status at attempt ``retry_count`` (default: the row's), by
    ``worker`` (default: the row's), with the result and error columns given, at
    ``status_at`` (else ``completed_at`` for a final status, ``started_at`` for running,
    else ``at``, else now), with ``event_id`` (default: a new one). The merge keeps the
    row's status when the transition does not outrank it; the history keeps it anyway.
    """
    try:
        status = TaskStatus(updates["status"])
    except ValueError:
        allowed = ", ".join(s.value for s in TaskStatus)
        raise ValueError(f"unknown status {updates['status']!r}: one of {allowed}") from None
    time_key = "status_at"
    if updates.get("status_at") is None and status in TERMINAL:
        time_key = "completed_at"
    elif updates.get("status_at") is None and status is TaskStatus.RUNNING:
        time_key = "started_at"
    when = updates.get(time_key) or at or datetime.now(UTC)
    occurred = _as_datetime(when)
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    attempt = updates.get("retry_count", row.get("retry_count")) or 0
    result = {k: updates[k] for k in _RESULT if k in updates}
    transition = Transition(
        event_id=uuid.UUID(str(event_id)) if event_id is not None else uuid.uuid4(),
        task_id=str(row["task_id"]),
        status=status,
        attempt=int(attempt),
        occurred_at=occurred,
        agent_type=str(row["agent_type"]),
        task_type=str(row["task_type"]),
        worker=updates.get("worker", row.get("worker")),
        result=result or None,
    )
    used = _TRANSITION | {time_key}
    return transition, {k: v for k, v in updates.items() if k not in used}


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def jsonable(value: Any) -> Any:
    """``value`` as PostgREST's JSON has it: datetimes ISO 8601, UUIDs as strings."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
