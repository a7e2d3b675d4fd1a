"""The SQL store: SQLAlchemy Core + psycopg 3, pooled, for any PostgreSQL.

A batch of transitions is recorded in one call of ``agentq_record_batch_within()``
(``persistence/sql/current/functions.sql``, its current definition): the events go in as one
JSON list in the wire format (``persistence/wire.py``) and PostgreSQL appends the new ones to the
history, moves the instance counters and merges one patch per execution, in one
transaction. The recorder passes stream entries through without decoding them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias

from sqlalchemy import Connection, Engine, create_engine

from persistence import wire
from persistence.errors import DataRejected, wrap_db_errors
from persistence.sql import queries
from persistence.store import RecordResult, WireRecording, agent_id

# The batch's call, guarded: to_timestamp() would store times Python cannot read back
# (years 1..9999), so every "at" must lie within the strict decoder's bounds or nothing is
# recorded and no row comes back. The function checks that on the events it has parsed
# anyway (revision 0007); everything else is checked by its casts.
_RECORD_BATCH = "SELECT * FROM agentq_record_batch_within(%(batch)s::json, %(min_at)s, %(max_at)s)"


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


class SQLStore(WireRecording):
    """Lifecycle storage in PostgreSQL. Safe to build before ``fork()``: the engine
    is created on first use in each process."""

    def __init__(self, url: str, *, pool_size: int = 5, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._engine: Engine | None = None
        self._pid = 0

    # --- connection management -------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            if self._engine is not None:
                # Inherited across fork: drop the parent's connections without closing them.
                self._engine.dispose(close=False)
            self._engine = create_engine(
                self.url,
                pool_size=self._pool_size,
                max_overflow=self._pool_size,
                pool_pre_ping=True,
                pool_recycle=1800,
                connect_args={"connect_timeout": max(1, int(self._connect_timeout))},
            )
            self._pid = os.getpid()
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- recording ---------------------------------------------------------------
    def record_wire(self, batch: bytes) -> RecordResult:
        """Record a JSON list of wire events (``persistence/wire.py``) in one call:
        PostgreSQL parses, deduplicates and merges it (``agentq_record_batch``).
        :class:`DataRejected` when it refuses the batch (nothing is recorded then)."""
        try:
            text = batch.decode()
        except UnicodeDecodeError as exc:
            raise DataRejected(f"batch is not UTF-8: {exc}") from None
        low, high = wire.at_bounds()
        with wrap_db_errors(), self.engine.begin() as conn:
            row = conn.exec_driver_sql(
                _RECORD_BATCH, {"batch": text, "min_at": low, "max_at": high}
            ).first()
        if row is None:
            raise DataRejected(f"an event's 'at' is not a time in [{low:.0f}, {high:.0f}]")
        return RecordResult(*row)

    def set_instances_status(
        self,
        worker: str,
        agent_types: Sequence[str],
        status: str,
        at: datetime,
        configuration: dict[str, Any] | None = None,
    ) -> None:
        params = {
            "worker": worker,
            "status": status,
            "at": at,
            "configuration": _json(configuration or {}),
            "agent_id": [agent_id(a, worker) for a in agent_types],
            "agent_type": list(agent_types),
        }
        with wrap_db_errors(), self.engine.begin() as conn:
            conn.exec_driver_sql(queries()["set_instances_status"], params)

    def heartbeat(self, worker: str, agent_types: Sequence[str]) -> None:
        params = {"worker": worker, "agent_id": [agent_id(a, worker) for a in agent_types]}
        with wrap_db_errors(), self.engine.begin() as conn:
            conn.exec_driver_sql(queries()["heartbeat"], params)

    # --- reading -----------------------------------------------------------------
    def get_execution(self, task_id: str) -> dict[str, Any] | None:
        q = queries()
        with wrap_db_errors(), self.engine.connect() as conn:
            row = conn.exec_driver_sql(q["get_execution"], {"task_id": task_id}).mappings().first()
            if row is None:
                return None
            history = conn.exec_driver_sql(q["get_history"], {"task_id": task_id}).mappings()
            out = dict(row)
            out["history"] = [dict(h) for h in history]
        return out


class HasEngine(Protocol):
    """A store on an SQLAlchemy engine (:class:`SQLStore`, the mirrored store, SQLRecords)."""

    @property
    def engine(self) -> Engine: ...


# What the set-based jobs (metrics, health, outbox, browse) run on.
EngineSource: TypeAlias = Engine | HasEngine


def engine_of(engine_or_store: EngineSource) -> Engine:
    """The engine of an :class:`SQLStore`, or the engine itself (set-based jobs take either)."""
    engine = getattr(engine_or_store, "engine", engine_or_store)
    if not isinstance(engine, Engine):
        raise TypeError(f"expected an SQLAlchemy Engine or an SQLStore, not {engine_or_store!r}")
    return engine


# A query run five times on a connection is prepared by psycopg, and PostgreSQL may then
# plan it once for any values: for the reads with optional filters ("%(x)s IS NULL OR
# col = %(x)s") and computed time bounds that generic plan is blind to which filters are
# set and how far back the bound lies, and reads the whole table
# (bench/bench_queries.py measured 1.7 s against 0.2 ms for the same page).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def custom_plans(conn: Connection) -> None:
    """Plan the rest of this transaction's statements for their values (SET LOCAL: the
    pooled connection goes back as it was)."""
    conn.exec_driver_sql(CUSTOM_PLANS)
