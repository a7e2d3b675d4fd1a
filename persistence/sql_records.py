"""The integration design's record calls on PostgreSQL (SQLAlchemy Core), for the direct database.

Same contract as the REST backend (:mod:`persistence.records`): dicts in, dicts with
JSON values out. Metrics and health rows go through :mod:`persistence.metrics` and
:mod:`persistence.health`, which the rest of the system uses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert

from persistence import health as _health
from persistence import metrics as _metrics
from persistence import mirror_effects as fx
from persistence import records as r
from persistence.errors import wrap_db_errors
from persistence.schema import agent_executions, agent_instances, agent_metrics, system_health
from persistence.sql_store import SQLStore


class SQLRecords:
    """Record calls on ``store.engine`` (an :class:`persistence.sql_store.SQLStore`)."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store

    @property
    def engine(self) -> Engine:
        engine: Engine = self.store.engine
        return engine

    def __repr__(self) -> str:
        return f"SQLRecords({self.engine.url.render_as_string(hide_password=True)})"

    # --- agent instances -----------------------------------------------------------
    def create_agent_instance(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._upsert(agent_instances, r.instance_row(data), "agent_id")

    def update_agent_instance(self, agent_id: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        row = r.updates_for(agent_instances, updates)
        return self._update(agent_instances, agent_instances.c.agent_id == agent_id, row)

    def get_agent_instance(self, agent_id: str) -> dict[str, Any] | None:
        rows = self._select(select(agent_instances).where(agent_instances.c.agent_id == agent_id))
        return rows[0] if rows else None

    def get_all_agent_instances(self) -> list[dict[str, Any]]:
        c = agent_instances.c
        return self._select(select(agent_instances).order_by(c.created_at.desc(), c.agent_id))

    # --- executions ----------------------------------------------------------------
    def create_task_execution(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return self._upsert(agent_executions, r.execution_row(data), "task_id")

    def update_task_execution(
        self,
        task_id: str,
        updates: Mapping[str, Any],
        *,
        event_id: str | uuid.UUID | None = None,
        at: str | datetime | None = None,
    ) -> dict[str, Any]:
        """A status goes through the lifecycle merge as a transition of its own (it never
        moves the row backward; the history keeps it, ``event_id`` names it); the other
        columns are a plain update. ``{}`` when there is no such execution."""
        row = r.updates_for(agent_executions, updates)
        where = agent_executions.c.task_id == task_id
        if "status" not in row:
            return self._update(agent_executions, where, row)
        current = self.get_task_execution(task_id)
        if current is None:
            return {}
        transition, rest = r.status_change(current, row, event_id=event_id, at=at)
        self.store.record([transition])
        if rest:
            return self._update(agent_executions, where, rest)
        return self.get_task_execution(task_id) or {}

    def get_task_execution(self, task_id: str) -> dict[str, Any] | None:
        rows = self._select(select(agent_executions).where(agent_executions.c.task_id == task_id))
        return rows[0] if rows else None

    def get_agent_task_history(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]]:
        ae, ai = agent_executions.c, agent_instances.c
        instance = select(ai.id).where(ai.agent_id == agent_id).scalar_subquery()
        stmt = (
            select(agent_executions)
            .where(ae.agent_instance_id == instance)
            .order_by(ae.created_at.desc(), ae.task_id)
            .limit(limit)
        )
        return self._select(stmt)

    # --- metrics and health --------------------------------------------------------
    def store_agent_metrics(self, data: Mapping[str, Any]) -> dict[str, Any]:
        row_id = _metrics.store_agent_metrics(self.store, r.metrics_row(data))
        return self._select(select(agent_metrics).where(agent_metrics.c.id == row_id))[0]

    def get_agent_metrics(self, agent_id: str | None, hours: float = 24) -> list[dict[str, Any]]:
        rows = _metrics.get_agent_metrics(self.store, agent_id, hours)
        return [r.jsonable(row) for row in rows]

    def store_system_health(self, data: Mapping[str, Any]) -> dict[str, Any]:
        row_id = _health.store_system_health(self.store, r.health_row(data))
        return self._select(select(system_health).where(system_health.c.id == row_id))[0]

    # --- beat's effects, applied as a mirror (persistence/mirror_effects.py) ----------
    def put_agent_metrics(self, rows: Sequence[Mapping[str, Any]]) -> None:
        fx.put_metrics(self.engine, rows)

    def put_system_health(self, rows: Sequence[Mapping[str, Any]]) -> None:
        fx.put_health(self.engine, rows)

    def mark_instances_offline(self, agent_ids: Sequence[str]) -> None:
        fx.mark_offline(self.engine, agent_ids)

    def delete_rows(self, table: str, keys: Sequence[str]) -> None:
        fx.delete_keys(self.engine, table, keys)

    def ping(self) -> float:
        start = time.perf_counter()
        with wrap_db_errors(), self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
        return (time.perf_counter() - start) * 1000

    # --- helpers -------------------------------------------------------------------
    def _select(self, stmt: Select[Any]) -> list[dict[str, Any]]:
        with wrap_db_errors(), self.engine.connect() as conn:
            return [r.jsonable(dict(m)) for m in conn.execute(stmt).mappings()]

    def _upsert(self, table: Table, row: dict[str, Any], key: str) -> dict[str, Any]:
        stmt = insert(table).values(**row)
        changes: dict[str, Any] = {k: stmt.excluded[k] for k in row if k != key}
        if "updated_at" in table.c:
            changes["updated_at"] = func.now()
        stmt = stmt.on_conflict_do_update(index_elements=[key], set_=changes)
        with wrap_db_errors(), self.engine.begin() as conn:
            saved: dict[str, Any] = r.jsonable(
                dict(conn.execute(stmt.returning(table)).mappings().one())
            )
            return saved

    def _update(
        self, table: Table, where: ColumnElement[bool], row: dict[str, Any]
    ) -> dict[str, Any]:
        if "updated_at" in table.c:
            row = {**row, "updated_at": func.now()}
        stmt = update(table).where(where).values(**row).returning(table)
        with wrap_db_errors(), self.engine.begin() as conn:
            found = conn.execute(stmt).mappings().first()
        return r.jsonable(dict(found)) if found else {}
