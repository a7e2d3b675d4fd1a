"""Supabase roles, auth.role() shim on plain PostgreSQL, Row Level Security as in the seed (issue 6)

Revision ID: 0004_supabase_rls
Revises: 0003_realtime
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0004_supabase_rls"
down_revision: str | None = "0003_realtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sql = read_sql("0004_supabase_rls.sql").strip()
    if sql:  # placeholder until its issue fills it in
        op.execute(sql)


def downgrade() -> None:
    pass
