"""Emptying the session's database (and Redis DB) between tests: the one place that
truncates, for the ``clean`` fixture and the module-scoped fixtures that start a worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from persistence.schema import metadata

# What the hooks, the recorder and beat write.
RECORDING_TABLES: tuple[str, ...] = (
    "agent_execution_events",
    "agent_executions",
    "agent_metrics",
    "system_health",
    "agent_instances",
    "agentq_task_counts",
)
# Every table of the schema: the recording tables and the mirror's outbox.
EVERY_TABLE: tuple[str, ...] = tuple(metadata.tables)


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg's own connection string."""
    return url.replace("+psycopg", "")


def truncate(url: str, tables: Iterable[str] = RECORDING_TABLES) -> None:
    """Empty ``tables`` (and whatever references them) of the database at ``url``."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def reset_recording(database_url: str, redis_client: Any) -> None:
    """Empty recording tables, an empty Redis DB, and this process's sink forgotten (the
    next event opens a new one on the current settings)."""
    from workers.recording import signals

    truncate(database_url)
    redis_client.flushdb()
    signals.reset()
