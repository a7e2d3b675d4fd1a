"""index agent_executions(agent_instance_id): the instance cascade and history use it

Revision ID: 0008_executions_instance_index
Revises: 0007_record_batch_speed
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0008_executions_instance_index"
down_revision: str | None = "0007_record_batch_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0008_executions_instance_index.sql"))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_agent_executions_agent_instance_id")
