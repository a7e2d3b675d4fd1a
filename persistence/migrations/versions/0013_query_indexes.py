"""indexes for the page's and the API's reads: executions' keysets, status_at; metrics' period_end

Revision ID: 0013_query_indexes
Revises: 0012_partitions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0013_query_indexes"
down_revision: str | None = "0012_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    "idx_agent_executions_created_task",
    "idx_agent_executions_user_created_task",
    "idx_agent_executions_status_at",
    "idx_agent_metrics_period_end",
)


def upgrade() -> None:
    op.execute(read_sql("0013_query_indexes.sql"))


def downgrade() -> None:
    for index in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index}")
