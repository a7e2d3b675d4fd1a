"""agent_executions.trace_id: the OpenTelemetry trace of each task, stored by the recorder

Revision ID: 0010_trace_id
Revises: 0009_realtime_complete
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0010_trace_id"
down_revision: str | None = "0009_realtime_complete"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0010_trace_id.sql"))


def downgrade() -> None:
    # 0009's function first (it no longer names the column), then the column. Re-running
    # 0009's file is idempotent: CREATE OR REPLACE, publication membership checked.
    op.execute(read_sql("0009_realtime_complete.sql"))
    op.execute("ALTER TABLE agent_executions DROP COLUMN IF EXISTS trace_id")
