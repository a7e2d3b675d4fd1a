"""Indexes for the metrics aggregation: per-type upsert key, finished executions by time.

Revision ID: 0002_metrics
Revises: 0001_initial
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0002_metrics"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0002_metrics.sql"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_agent_executions_completed_at")
    op.execute("DROP INDEX IF EXISTS uq_agent_metrics_type_period")
