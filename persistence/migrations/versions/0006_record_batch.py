"""agentq_record_batch(): the recorder's whole batch in one call (JSON in, merge in SQL).

Revision ID: 0006_record_batch
Revises: 0005_mirror_outbox
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0006_record_batch"
down_revision: str | None = "0005_mirror_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0006_record_batch.sql"))


def downgrade() -> None:
    # (json: the function's argument type; this said jsonb once and dropped nothing)
    op.execute("DROP FUNCTION IF EXISTS agentq_record_batch(json)")
    op.execute(
        "DROP FUNCTION IF EXISTS agentq_state_wins(integer, task_status, timestamptz,"
        " integer, task_status, timestamptz)"
    )
    op.execute("DROP FUNCTION IF EXISTS agentq_error_wins(jsonb, jsonb)")
    op.execute("DROP TYPE IF EXISTS agentq_wire_event")
