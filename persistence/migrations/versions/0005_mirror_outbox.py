"""Outbox of writes the Supabase mirror missed, replayed in order (issue 6)

Revision ID: 0005_mirror_outbox
Revises: 0004_supabase_rls
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0005_mirror_outbox"
down_revision: str | None = "0004_supabase_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sql = read_sql("0005_mirror_outbox.sql").strip()
    if sql:  # placeholder until its issue fills it in
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS mirror_outbox")
