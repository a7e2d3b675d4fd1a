"""agentq_record_batch() cheaper per transition; instances updated once, last, in order

Revision ID: 0007_record_batch_speed
Revises: 0006_record_batch
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0007_record_batch_speed"
down_revision: str | None = "0006_record_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0007_record_batch_speed.sql"))


def downgrade() -> None:
    # 0006's function back; the SQL store of this revision needs the one dropped here.
    op.execute("DROP FUNCTION IF EXISTS agentq_record_batch(json)")
    op.execute(
        "DROP FUNCTION IF EXISTS agentq_record_batch_within(json, double precision,"
        " double precision)"
    )
    op.execute(read_sql("0006_record_batch.sql"))
