"""Pusher channel and event names (documented in docs/realtime.md).

Pusher allows channel names of at most 164 characters of ``[A-Za-z0-9_\\-=@,.;]``. The
fleet channels are public: anyone with the app key may subscribe. A user's own channel
is private by default (``private-<prefix>-user-<id>``): Pusher admits a subscriber only
with a signature from the auth endpoint, which ``agentq serve`` gives a logged-in user
for their own channel only (``POST /pusher/auth``, ``workers/serve/auth.py``).
"""

from __future__ import annotations

import re

EXECUTION_EVENT = "execution.updated"
AGENT_EVENT = "agent.updated"
METRICS_EVENT = "metrics.updated"
HEALTH_EVENT = "health.updated"

EVENT_BY_TABLE = {
    "agent_executions": EXECUTION_EVENT,
    "agent_instances": AGENT_EVENT,
    "agent_metrics": METRICS_EVENT,
    "system_health": HEALTH_EVENT,
}
_SUFFIX_BY_TABLE = {
    "agent_executions": "executions",
    "agent_instances": "agents",
    "agent_metrics": "metrics",
    "system_health": "health",
}
_VALID = re.compile(r"^[A-Za-z0-9_\-=@,.;]{1,164}$")


def table_channel(prefix: str, table: str) -> str:
    """``<prefix>-executions``, ``<prefix>-agents``, ``<prefix>-metrics`` or ``<prefix>-health``."""
    return f"{prefix}-{_SUFFIX_BY_TABLE[table]}"


def user_channel(prefix: str, user_id: str) -> str | None:
    """``<prefix>-user-<user_id>``: one user's own executions (None if not a valid name)."""
    name = f"{prefix}-user-{user_id}"
    return name if _VALID.match(name) else None


def private_user_channel(prefix: str, user_id: str) -> str | None:
    """``private-<prefix>-user-<user_id>``: the same, for subscribers Pusher let in with a
    signature from the auth endpoint (None if not a valid name)."""
    name = f"private-{prefix}-user-{user_id}"
    return name if _VALID.match(name) else None
