"""The integration design's agent tables and enums, plus the lifecycle history.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0001_initial.sql"))


def downgrade() -> None:
    for table in (
        "agent_execution_events",
        "agent_metrics",
        "agent_executions",
        "system_health",
        "agent_instances",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS agentq_status_rank(task_status)")
    op.execute("DROP FUNCTION IF EXISTS update_updated_at_column() CASCADE")
    for enum in ("task_priority", "task_status", "agent_status", "agent_type"):
        op.execute(f"DROP TYPE IF EXISTS {enum}")
