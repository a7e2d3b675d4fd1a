"""What ``agentq serve`` reads from the database at request time: execution counts for
Prometheus and the Row Level Security flags for the Supabase health endpoint."""

from __future__ import annotations

from persistence.errors import wrap_db_errors
from persistence.sql import queries
from persistence.sql_store import SQLStore

# A scrape must not hang on a locked or huge table: it answers later or not at all.
STATEMENT_TIMEOUT_MS = 5000


def execution_counts(store: SQLStore) -> dict[tuple[str, str], int]:
    """``{(status, agent_type): executions}`` over the whole table."""
    with wrap_db_errors(), store.engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        rows = conn.exec_driver_sql(queries("observability.sql")["execution_counts"])
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def rls_enabled(store: SQLStore, tables: tuple[str, ...]) -> dict[str, bool]:
    """Per table: whether Row Level Security is on."""
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            queries("observability.sql")["rls_enabled"], {"tables": list(tables)}
        )
        return {str(r[0]): bool(r[1]) for r in rows}


def mirror_backlog(store: SQLStore) -> int | None:
    """Outbox rows the Supabase mirror has yet to replay; None in a build without it."""
    try:
        from persistence import outbox
    except ImportError:
        return None
    return int(outbox.backlog(store.engine))


def online_instances(store: SQLStore, stale_s: float) -> list[tuple[str, str]]:
    """(worker, agent type) of every online agent instance."""
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            queries("observability.sql")["online_instances"], {"stale_s": float(stale_s)}
        )
        return [(str(r[0]), str(r[1])) for r in rows]
