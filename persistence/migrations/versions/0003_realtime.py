"""Realtime change feed: triggers that NOTIFY committed changes, updated_at index for catch-up (issue 5)

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
    sql = read_sql("0003_realtime.sql").strip()
    if sql:  # placeholder until its issue fills it in
        op.execute(sql)


def downgrade() -> None:
    pass
