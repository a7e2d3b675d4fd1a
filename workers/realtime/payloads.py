"""Rows → Pusher events: which fields go out, on which channels, within Pusher's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from workers.realtime.changes import Key
from workers.realtime.channels import (
    EVENT_BY_TABLE,
    private_user_channel,
    table_channel,
    user_channel,
)
from workers.realtime.config import RealtimeConfig

# Pusher refuses an event whose data is over 10 KB (HTTP 413).
MAX_EVENT_BYTES = 10_240
# What a trimmed event keeps: enough to know which row changed, and its status.
_TRIM_FIELDS = {
    "agent_executions": ("id", "task_id", "status", "updated_at"),
    "agent_instances": ("id", "agent_id", "status", "updated_at"),
    "agent_metrics": ("id", "agent_id", "agent_type", "period_start", "period_end"),
    "system_health": ("id", "timestamp", "status", "overall_health_score"),
}


@dataclass(frozen=True)
class Event:
    channel: str
    name: str
    data: str  # JSON text, at most MAX_EVENT_BYTES
    key: Key  # the row it tells about
    trimmed: bool = False


def build_payload(table: str, row: dict[str, Any], config: RealtimeConfig) -> dict[str, Any] | None:
    """The event payload of a fetched row, or None when the filters keep it back."""
    if table not in config.tables:
        return None
    if table == "agent_executions":
        if config.statuses is not None and row.get("status") not in config.statuses:
            return None
        return {f: row.get(f) for f in config.execution_fields}
    return dict(row)


def _encode(payload: dict[str, Any]) -> str:
    # orjson writes UUIDs and timezone-aware datetimes (RFC 3339) as they are.
    return orjson.dumps(payload).decode()


def events_for(
    table: str, row: dict[str, Any], payload: dict[str, Any], config: RealtimeConfig
) -> list[Event]:
    """One event per channel: the table's (unless public channels are off), and for an
    execution with a user id the user's own (private by default)."""
    data = _encode(payload)
    trimmed = len(data.encode()) > MAX_EVENT_BYTES
    if trimmed:
        data = _encode({**{f: row.get(f) for f in _TRIM_FIELDS[table]}, "trimmed": True})
    key = (table, str(row["id"]))
    name = EVENT_BY_TABLE[table]
    channels = [table_channel(config.channel_prefix, table)] if config.public_channels else []
    if table == "agent_executions" and config.user_channels and row.get("user_id"):
        mine = private_user_channel if config.private_user_channels else user_channel
        personal = mine(config.channel_prefix, str(row["user_id"]))
        if personal:
            channels.append(personal)
    return [Event(c, name, data, key, trimmed) for c in channels]
