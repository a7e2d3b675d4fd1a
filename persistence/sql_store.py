"""The SQL store: SQLAlchemy Core + psycopg 3, pooled, for any PostgreSQL.

A batch of transitions is recorded in one transaction of five set-based
statements (``persistence/sql/queries.sql``): append the new events, move the
instance counters, insert new executions, merge into existing ones, refresh
busy/idle. Arrays are passed whole, so the cost per batch hardly depends on its size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine

from persistence.errors import wrap_db_errors
from persistence.instances import instance_deltas
from persistence.lifecycle import RANK, TERMINAL, Patch, Transition, merge, patches
from persistence.sql import queries
from persistence.store import RecordResult, agent_id


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


class SQLStore:
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
    def record(self, transitions: Sequence[Transition]) -> RecordResult:
        if not transitions:
            return RecordResult(0, 0, 0, 0)
        q = queries()
        with wrap_db_errors(), self.engine.begin() as conn:
            rows = conn.exec_driver_sql(q["insert_events"], _event_params(transitions)).fetchall()
            new_ids = {r[0] for r in rows}
            new = [t for t in transitions if t.event_id in new_ids]
            if not new:
                return RecordResult(len(transitions), 0, 0, 0)
            deltas = instance_deltas(new)
            if deltas:
                conn.exec_driver_sql(q["upsert_instance_counters"], _delta_params(deltas))
            by_task = patches(new)
            inserted = {
                r[0]
                for r in conn.exec_driver_sql(
                    q["insert_executions"], _insert_params(by_task.values())
                ).fetchall()
            }
            rest = [p for tid, p in sorted(by_task.items()) if tid not in inserted]
            if rest:
                conn.exec_driver_sql(q["update_executions"], _update_params(rest))
            if deltas:
                conn.exec_driver_sql(q["refresh_instance_status"], {"agent_id": sorted(deltas)})
        return RecordResult(len(transitions), len(new), len(inserted), len(rest))

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


# --- parameter building (columns of the unnest() calls in queries.sql) -----------
def _event_params(ts: Sequence[Transition]) -> dict[str, list[Any]]:
    return {
        "id": [t.event_id for t in ts],
        "task_id": [t.task_id for t in ts],
        "status": [t.status.value for t in ts],
        "attempt": [t.attempt for t in ts],
        "occurred_at": [t.occurred_at for t in ts],
        "worker": [t.worker for t in ts],
        "detail": [_json(_detail(t)) for t in ts],
    }


def _detail(t: Transition) -> dict[str, Any] | None:
    """What the history keeps of a transition beyond its status: errors and timings."""
    res = t.result or {}
    detail = {
        k: res[k]
        for k in ("error_message", "error_type", "execution_time_seconds", "quality_score")
        if res.get(k) is not None
    }
    if (t.request or {}).get("eta"):
        detail["eta"] = (t.request or {})["eta"]
    return detail or None


def _delta_params(deltas: dict[str, Any]) -> dict[str, list[Any]]:
    ds = [deltas[k] for k in sorted(deltas)]
    return {
        "agent_id": [d.agent_id for d in ds],
        "agent_type": [d.agent_type for d in ds],
        "worker": [d.worker for d in ds],
        "last_activity": [d.last_activity for d in ds],
        "completed": [d.completed for d in ds],
        "failed": [d.failed for d in ds],
        "exec_time": [d.exec_time for d in ds],
    }


def _error_details(p: Patch) -> dict[str, Any] | None:
    if p.error is None:
        return None
    res = p.error.result or {}
    return {
        "attempt": p.error.attempt,
        "rank": RANK[p.error.status],
        "status": p.error.status.value,
        "type": res.get("error_type"),
        "traceback": res.get("traceback"),
    }


def _columns(rows: Any) -> dict[str, list[Any]]:
    """Rows (dicts with the same keys) as one list per column, for unnest()."""
    cols: dict[str, list[Any]] = {}
    for row in rows:
        for k, v in row.items():
            cols.setdefault(k, []).append(v)
    return cols


def _insert_params(ps: Any) -> dict[str, list[Any]]:
    return _columns(_insert_row(p) for p in ps)


def _insert_row(p: Patch) -> dict[str, Any]:
    row = merge(None, p)
    return {
        "task_id": row.task_id,
        "agent_type": row.agent_type,
        "task_type": row.task_type,
        "status": row.status.value,
        "retry_count": row.retry_count,
        "status_at": row.status_at,
        "created_at": row.created_at,
        "worker": row.worker,
        "completed_at": row.completed_at,
        "output_data": _json(row.output_data),
        "quality_score": row.quality_score,
        "execution_time_seconds": row.execution_time_seconds,
        "started_at": row.started_at,
        "error_message": row.error_message,
        "error_type": row.error_type,
        "error_details": _json(_error_details(p)),
        "enqueued_at": row.enqueued_at,
        "input_data": _json(row.input_data) if row.enqueued_at else None,
        "user_id": row.user_id,
        "session_id": row.session_id,
        "priority": row.priority,
        "max_retries": row.max_retries,
        "attempts": row.attempts,
    }


def _update_params(ps: Sequence[Patch]) -> dict[str, list[Any]]:
    return _columns(_update_row(p) for p in ps)


def _update_row(p: Patch) -> dict[str, Any]:
    s, res = p.state, p.state.result or {}
    terminal = s.status in TERMINAL
    eres = (p.error.result or {}) if p.error else {}
    req = (p.request.request or {}) if p.request else {}
    return {
        "task_id": p.task_id,
        "created_at": p.created_at,
        "s_status": s.status.value,
        "s_attempt": s.attempt,
        "s_at": s.occurred_at,
        "s_worker": s.worker,
        "s_completed_at": s.occurred_at if terminal else None,
        "s_output": _json(res.get("output_data")) if terminal else None,
        "s_quality": res.get("quality_score") if terminal else None,
        "s_exec_time": res.get("execution_time_seconds") if terminal else None,
        "st_at": p.start.occurred_at if p.start else None,
        "e_attempt": p.error.attempt if p.error else None,
        "e_rank": RANK[p.error.status] if p.error else None,
        "e_message": eres.get("error_message"),
        "e_type": eres.get("error_type"),
        "e_details": _json(_error_details(p)),
        "r_at": p.request.occurred_at if p.request else None,
        "r_input": _json(req.get("input_data") or {}) if p.request else None,
        "r_user": req.get("user_id"),
        "r_session": req.get("session_id"),
        "r_priority": req.get("priority"),
        "r_max_retries": req.get("max_retries"),
        "new_runs": p.new_runs,
    }
