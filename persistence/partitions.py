"""The time partitions of the history, the metrics and the health rows (revision 0012,
docs/schema.md#partitions): creating them ahead, finding strays, dropping old weeks.

Each parent in :data:`PARTITIONED` is range-partitioned by its time column into ISO weeks
(Monday 00:00 UTC), in schema ``agentq_partitions``, plus a default partition that takes
any row outside the weeks created ("strays": a time far in the future or older than the
oldest week kept). Queries live in ``persistence/sql/partitions.sql``.

Dropping: ``DETACH PARTITION ... CONCURRENTLY`` is refused while the parent has a default
partition (PostgreSQL 14+; it also cannot run in a transaction block), so a week is
detached and dropped in one short transaction under a ``lock_timeout``: the parent's
ACCESS EXCLUSIVE lock is held for milliseconds, and a writer holding the parent makes the
attempt give up and retry (or wait for the next run) instead of queueing everyone behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from persistence.errors import PersistenceError, wrap_db_errors
from persistence.sql import queries
from persistence.sql_store import HasEngine

SCHEMA = "agentq_partitions"
# Parent table -> its partition key (the time a row counts from).
PARTITIONED: dict[str, str] = {
    "agent_execution_events": "occurred_at",
    "agent_metrics": "period_start",
    "system_health": "timestamp",
}
# Told the ids a dropped partition held (beat mirrors metrics and health by id).
OnDropped = Callable[[str, list[str]], None]


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    lower: datetime | None  # None, None: the default partition
    upper: datetime | None

    @property
    def is_default(self) -> bool:
        return self.lower is None


def _q() -> dict[str, str]:
    return queries("partitions.sql")


def _parent(table: str) -> str:
    if table not in PARTITIONED:
        raise ValueError(f"not a partitioned table: {table!r} (one of {', '.join(PARTITIONED)})")
    return table


def partitions(store: HasEngine, table: str) -> list[Partition]:
    """The partitions of ``table``, oldest week first, the default partition last."""
    with wrap_db_errors(), store.engine.connect() as conn:
        return _partitions(conn, _parent(table))


def _partitions(conn: Connection, table: str) -> list[Partition]:
    rows = conn.exec_driver_sql(_q()["partitions"], {"parent": table}).all()
    return [Partition(str(r[0]), r[1], r[2]) for r in rows]


def create_ahead(
    store: HasEngine, weeks: int = 2, *, lock_timeout_ms: int = 5000
) -> dict[str, int]:
    """The weeks from this one to ``weeks`` ahead, per parent, each unless it exists;
    returns how many partitions each parent got."""
    if weeks < 0:
        raise ValueError(f"weeks ahead must be >= 0, not {weeks}")
    out: dict[str, int] = {}
    for table in PARTITIONED:
        with wrap_db_errors(), store.engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            made = conn.exec_driver_sql(_q()["create_ahead"], {"parent": table, "ahead": weeks})
            out[table] = int(made.scalar_one())
    return out


def strays(store: HasEngine) -> dict[str, int]:
    """Rows in each parent's default partition (0 is normal: see the module docstring);
    a database without them (not migrated, or before 0012) has none to report."""
    out: dict[str, int] = {}
    with wrap_db_errors(), store.engine.connect() as conn:
        for table in PARTITIONED:
            name = f'{SCHEMA}."{table}_default"'
            if conn.exec_driver_sql("SELECT to_regclass(%(n)s)", {"n": name}).scalar() is None:
                continue
            out[table] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
    return out


def drop_before(
    store: HasEngine,
    table: str,
    cutoff: datetime,
    *,
    lock_timeout_ms: int = 2000,
    attempts: int = 3,
    on_dropped: OnDropped | None = None,
) -> tuple[list[str], int]:
    """Detach and drop every week of ``table`` that ends at or before ``cutoff``; the
    names dropped and the rows they held. ``on_dropped(table, ids)`` is told the ids each
    week held (read before the drop), after its commit. A week whose lock is not had in
    ``attempts`` tries raises (the next run tries again)."""
    table = _parent(table)
    dropped: list[str] = []
    rows = 0
    for part in partitions(store, table):
        if part.is_default or part.upper is None or part.upper > cutoff:
            continue
        for attempt in range(attempts):
            try:
                n, ids = _detach_and_drop(store, table, part.name, lock_timeout_ms, on_dropped)
            except PersistenceError:
                if attempt + 1 == attempts:
                    raise
                time.sleep(0.2 * (attempt + 1))  # a writer held the parent: try again
                continue
            if on_dropped is not None and ids:
                on_dropped(table, ids)
            dropped.append(part.name)
            rows += n
            break
    return dropped, rows


def _detach_and_drop(
    store: HasEngine, table: str, name: str, lock_timeout_ms: int, on_dropped: OnDropped | None
) -> tuple[int, list[str]]:
    qualified = f'{SCHEMA}."{name}"'
    with wrap_db_errors(), store.engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        ids: list[str] = []
        if on_dropped is not None:
            ids = [str(r[0]) for r in conn.exec_driver_sql(f"SELECT id FROM {qualified}")]
            n = len(ids)
        else:
            n = int(conn.exec_driver_sql(f"SELECT count(*) FROM {qualified}").scalar_one())
        conn.exec_driver_sql(f'ALTER TABLE "{table}" DETACH PARTITION {qualified}')
        conn.exec_driver_sql(f"DROP TABLE {qualified}")
    return n, ids


def delete_old_strays(
    store: HasEngine, table: str, cutoff: datetime, *, batch: int = 5000
) -> list[str]:
    """Delete the default partition's rows of ``table`` older than ``cutoff`` (at most
    ``batch``); their ids. Strays are rare (see the module docstring): this is the only
    row-by-row delete of a partitioned table."""
    key = PARTITIONED[_parent(table)]
    sql = (
        f'DELETE FROM {SCHEMA}."{table}_default" WHERE ctid IN (SELECT ctid FROM '
        f'{SCHEMA}."{table}_default" WHERE "{key}" < %(cutoff)s LIMIT %(batch)s) RETURNING id::text'
    )
    with wrap_db_errors(), store.engine.begin() as conn:
        return [str(r[0]) for r in conn.exec_driver_sql(sql, {"cutoff": cutoff, "batch": batch})]


def week_start(at: datetime) -> datetime:
    """The start of ``at``'s partition week: Monday 00:00 UTC."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def drop_expired(
    store: HasEngine, cutoffs: dict[str, datetime], *, on_deleted: OnDropped | None = None
) -> dict[str, dict[str, object]]:
    """Retention of the partitioned tables: per parent, the weeks that end by its cutoff
    are dropped, and the default partition's strays older than it deleted. History first
    (the executions' own retention then finds nothing of theirs to cascade to).
    ``on_deleted(table, ids)`` is told the metrics' and health rows' ids (not the
    history's: the mirror's history goes with its executions). Per parent: the
    ``partitions`` dropped, their ``rows`` and the ``strays`` deleted."""
    out: dict[str, dict[str, object]] = {}
    for table in PARTITIONED:
        tell = None if table == "agent_execution_events" else on_deleted
        names, rows = drop_before(store, table, cutoffs[table], on_dropped=tell)
        gone = delete_old_strays(store, table, cutoffs[table])
        if gone and tell is not None:
            tell(table, gone)
        out[table] = {"partitions": names, "rows": rows, "strays": len(gone)}
    return out
