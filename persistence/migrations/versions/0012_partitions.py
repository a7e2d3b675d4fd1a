"""history, metrics and health in weekly range partitions (retention drops whole weeks)

Revision ID: 0012_partitions
Revises: 0011_trace_id
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from persistence.sql import current_definition, read_sql

revision: str = "0012_partitions"
down_revision: str | None = "0011_trace_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The functions this revision adds or changes, from their one source (docs/schema.md):
# the first is used by the conversion, the others follow it.
BEFORE = ("agentq_create_partitions",)
AFTER = ("agentq_realtime_notify_row", "agentq_record_batch_within")


def upgrade() -> None:
    for name in BEFORE:
        op.execute(current_definition(name))
    op.execute(read_sql("0012_partitions.sql"))
    for name in AFTER:
        op.execute(current_definition(name))


def downgrade() -> None:
    op.execute(_statement("0012_partitions.sql", "agentq_0012_rebuild("))
    op.execute(read_sql("0012_partitions_down.sql"))
    op.execute(_statement("0003_realtime.sql", "agentq_realtime_notify_row()"))
    op.execute(_statement("0011_trace_id.sql", "agentq_record_batch_within("))


def _statement(filename: str, function: str) -> str:
    """The ``CREATE OR REPLACE FUNCTION <function>`` statement of ``filename``, verbatim
    (up to the end of its body: a line ending in ``$fn$;`` or ``$$;``)."""
    sql = read_sql(filename)
    start = sql.index("CREATE OR REPLACE FUNCTION " + function)
    ends = [(i, m) for m in ("\n$fn$;", "\n$$;") if (i := sql.find(m, start)) != -1]
    if not ends:
        raise RuntimeError(f"{filename} has no complete function {function}")
    end, mark = min(ends)
    return sql[start : end + len(mark)]
