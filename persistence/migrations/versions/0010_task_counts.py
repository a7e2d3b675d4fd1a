"""the fleet's task counters and histograms, counted by the recorder's transaction

Revision ID: 0010_task_counts
Revises: 0009_realtime_complete
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0010_task_counts"
down_revision: str | None = "0009_realtime_complete"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0010_task_counts.sql"))


def downgrade() -> None:
    # 0009's function first (it no longer calls agentq_count_transitions), then the rest.
    op.execute(read_sql("0009_realtime_complete.sql"))
    op.execute(read_sql("0010_task_counts_down.sql"))
