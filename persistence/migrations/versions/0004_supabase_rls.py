"""Supabase roles, auth.role() shim on plain PostgreSQL, Row Level Security as in the
integration design (issue 6)

Skipped when RLS is off: ``MigrationService(enable_rls=False)`` (``agentq migrate`` passes
``SUPABASE_ENABLE_RLS``) sets the Alembic config attribute ``enable_rls``; a bare
``alembic`` run reads the ``SUPABASE_ENABLE_RLS`` environment variable (default true).
The revision is recorded as applied either way; to turn RLS on later, apply
``persistence/sql/0004_supabase_rls.sql`` (idempotent) with psql.

Revision ID: 0004_supabase_rls
Revises: 0003_realtime
Create Date: 2026-11-26
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from alembic import context, op

from persistence.sql import read_sql

revision: str = "0004_supabase_rls"
down_revision: str | None = "0003_realtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OFF = {"0", "f", "false", "n", "no", "off"}  # as pydantic reads a bool


def rls_enabled() -> bool:
    """The config attribute ``enable_rls`` if set, else ``SUPABASE_ENABLE_RLS`` (default on).
    (persistence must not import the workers' settings, hence the two channels.)"""
    value = context.config.attributes.get("enable_rls")
    if value is None:
        value = os.environ.get("SUPABASE_ENABLE_RLS", "true")
    return str(value).strip().lower() not in _OFF


def upgrade() -> None:
    if rls_enabled():
        op.execute(read_sql("0004_supabase_rls.sql"))


def downgrade() -> None:
    # Whatever SUPABASE_ENABLE_RLS says now: the upgrade may have run with it on, and the
    # down SQL does nothing where there is nothing of 0004's.
    op.execute(read_sql("0004_supabase_rls_down.sql"))
