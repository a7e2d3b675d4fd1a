"""Beat's writes, applied to a mirror as the primary made them.

Beat's jobs are set-based statements in the primary (metrics aggregation, system
health, the reaper, retention). The mirror is not asked to recompute them: it is given
their *effect*, read back from the primary, so both databases end up with the same
rows (:class:`persistence.mirror.Mirror` sends or queues them):

* ``metrics`` — whole ``agent_metrics`` rows (the primary's ids, values and
  ``created_at``), with the instance named by ``agent_id`` because each database has
  its own instance ids; upserted by the natural key, id included;
* ``health`` — whole ``system_health`` rows, inserted unless the id is there;
* ``offline`` — the agent_ids the reaper set offline;
* ``purge`` — the keys a retention batch deleted from one table (ids; ``task_id`` for
  executions, whose history goes with them).

The reaper's "worker lost" failures are lifecycle transitions and travel as such
(``record``). Every function here is idempotent. This module is the SQL side; the REST
side is :class:`persistence.supabase_rest.SupabaseRestStore`'s methods of the same names.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Table, delete, select, update
from sqlalchemy.dialects.postgresql import UUID, insert

from persistence.errors import DataRejected, wrap_db_errors
from persistence.schema import agent_executions, agent_instances, agent_metrics, system_health

# Per table: the key retention deletes by (the same in both databases).
PURGE_KEYS: dict[str, tuple[Table, str]] = {
    "system_health": (system_health, "id"),
    "agent_metrics": (agent_metrics, "id"),
    "agent_executions": (agent_executions, "task_id"),
}


def purge_key(table: str) -> tuple[Table, str]:
    if table not in PURGE_KEYS:
        raise DataRejected(f"retention mirrors only {', '.join(PURGE_KEYS)}, not {table!r}")
    return PURGE_KEYS[table]


def typed(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of JSON values (ISO times, UUID strings) as the table's Python types; a key
    that is not a column raises :class:`DataRejected` naming it."""
    unknown = set(row) - set(table.c.keys())
    if unknown:
        raise DataRejected(f"unknown {table.name} columns: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, value in row.items():
        kind = table.c[key].type
        if isinstance(value, str) and isinstance(kind, DateTime):
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, UUID):
            value = uuid.UUID(value)
        out[key] = value
    return out


def split_metrics(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The agent_ids the rows name, and the rows without ``agent_id`` /
    ``agent_instance_id`` (the mirror sets its own instance id)."""
    names = sorted({str(m["agent_id"]) for m in rows if m.get("agent_id") is not None})
    drop = ("agent_id", "agent_instance_id")
    bare = [{k: v for k, v in m.items() if k not in drop} for m in rows]
    return names, bare


def put_metrics(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert the primary's metric rows: per-instance ones by (instance, period start),
    per-type ones by (type, period start, length); every column takes the primary's
    value, the id too, so a row the mirror had under another id converges."""
    if not rows:
        return
    names, bare = split_metrics(rows)
    c = agent_metrics.c
    with wrap_db_errors(), engine.begin() as conn:
        found = conn.execute(
            select(agent_instances.c.agent_id, agent_instances.c.id).where(
                agent_instances.c.agent_id.in_(names)
            )
        ).all()
        ids = {str(a): i for a, i in found}
        missing = sorted(set(names) - set(ids))
        if missing:
            raise DataRejected(f"the mirror has no agent instance {', '.join(missing)}")
        per_instance: list[dict[str, Any]] = []
        per_type: list[dict[str, Any]] = []
        for row, m in zip(bare, rows, strict=True):
            name = m.get("agent_id")
            full = {**typed(agent_metrics, row), "agent_instance_id": ids.get(str(name))}
            (per_instance if name is not None else per_type).append(full)
        for batch, target in ((per_instance, "instance"), (per_type, "type")):
            if not batch:
                continue
            stmt = insert(agent_metrics).values(batch)
            changes = {k: stmt.excluded[k] for k in batch[0] if k != "agent_instance_id"}
            if target == "instance":
                stmt = stmt.on_conflict_do_update(constraint="unique_agent_period", set_=changes)
            else:
                stmt = stmt.on_conflict_do_update(
                    index_elements=["agent_type", "period_start", "period_duration_minutes"],
                    index_where=c.agent_instance_id.is_(None),
                    set_=changes,
                )
            conn.execute(stmt)


def put_health(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the primary's ``system_health`` rows; a row already there is kept."""
    if not rows:
        return
    stmt = insert(system_health).values([typed(system_health, row) for row in rows])
    with wrap_db_errors(), engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["id", "timestamp"]))


def mark_offline(engine: Engine, agent_ids: Sequence[str]) -> None:
    """What the reaper did to these instances in the primary: offline, no current task
    (maintenance is left alone there too)."""
    c = agent_instances.c
    stmt = (
        update(agent_instances)
        .where(c.agent_id.in_(list(agent_ids)), c.status.notin_(["offline", "maintenance"]))
        .values(status="offline", current_task_id=None)
    )
    with wrap_db_errors(), engine.begin() as conn:
        conn.execute(stmt)


def delete_keys(engine: Engine, table: str, keys: Sequence[str]) -> None:
    """Delete the rows retention deleted in the primary (by id, or task_id)."""
    t, key = purge_key(table)
    values: list[Any] = [uuid.UUID(k) for k in keys] if key == "id" else list(keys)
    with wrap_db_errors(), engine.begin() as conn:
        conn.execute(delete(t).where(t.c[key].in_(values)))
