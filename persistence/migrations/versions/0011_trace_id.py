"""agent_executions.trace_id: the OpenTelemetry trace of each task, stored by the recorder

Revision ID: 0011_trace_id
Revises: 0010_task_counts
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import read_sql

revision: str = "0011_trace_id"
down_revision: str | None = "0010_task_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(read_sql("0011_trace_id.sql"))


def downgrade() -> None:
    # 0010's function first (it counts the transitions and no longer names the column),
    # then the column.
    op.execute(_recorder_function_of_0010())
    op.execute("ALTER TABLE agent_executions DROP COLUMN IF EXISTS trace_id")


def _recorder_function_of_0010() -> str:
    """0010_task_counts.sql's agentq_record_batch_within(), its last statement, verbatim.

    Not the whole file: re-running it would call agentq_enable_rls() again, which grants
    the same privileges on agentq_task_counts in another order (a different ACL)."""
    sql = read_sql("0010_task_counts.sql")
    start = sql.index("CREATE OR REPLACE FUNCTION agentq_record_batch_within(")
    function = sql[start:]
    if function.count("CREATE ") != 1 or not function.rstrip().endswith("$fn$;"):
        raise RuntimeError("0010_task_counts.sql no longer ends with the recorder's function")
    return function
