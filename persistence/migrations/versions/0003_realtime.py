"""Realtime change feed: triggers NOTIFY committed changes; updated_at index for catch-up

Revision ID: 0003_realtime
Revises: 0002_metrics
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0003_realtime"
down_revision: str | None = "0002_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0003_realtime.sql"))


_TRIGGERS = (
    ("agentq_realtime_executions_insert", "agent_executions"),
    ("agentq_realtime_executions_update", "agent_executions"),
    ("agentq_realtime_instances_insert", "agent_instances"),
    ("agentq_realtime_instances_update", "agent_instances"),
    ("agentq_realtime_metrics_insert", "agent_metrics"),
    ("agentq_realtime_metrics_update", "agent_metrics"),
)


def downgrade() -> None:
    for trigger, table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS agentq_realtime_notify_row()")
    op.execute("DROP FUNCTION IF EXISTS agentq_realtime_notify()")
    op.execute("DROP INDEX IF EXISTS idx_agent_executions_updated_at")
