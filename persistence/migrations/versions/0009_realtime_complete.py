"""realtime made whole: triggers skip when realtime is off and inside the recorder (which
notifies its executions itself), system_health announced, supabase_realtime publication

Revision ID: 0009_realtime_complete
Revises: 0008_executions_instance_index
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0009_realtime_complete"
down_revision: str | None = "0008_executions_instance_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0009_realtime_complete.sql"))


def downgrade() -> None:
    op.execute(read_sql("0009_realtime_complete_down.sql"))
    # 0003's triggers (no WHEN clauses) and 0007's function (no SET clause, no notification),
    # as they were: both files replace what 0009 changed.
    op.execute(read_sql("0003_realtime.sql"))
    op.execute(read_sql("0007_record_batch_speed.sql"))
