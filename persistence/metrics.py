"""Metrics per agent instance and per agent type, one row per closed period.

``aggregate_metrics`` is what beat runs every period: one set-based statement
(``persistence/sql/metrics.sql``) aggregates every closed period since the last one
already aggregated (bounded backfill) and upserts the rows, so running it twice, or
from two processes at once, leaves the same rows. Per-instance rows are keyed by the
integration design's ``unique_agent_period``; per-type rows (``agent_instance_id`` NULL) by the
partial unique index of revision 0002.

What a row says about its period ``[period_start, period_end)``: the executions that
*finished* in it (``completed_at`` inside; completed, failed or cancelled).
``success_rate`` = completed / finished and ``error_rate`` = failed / finished, in
percent; execution times (average, median, p95) and averages of quality, confidence,
rating, memory and CPU are over the finished executions that carry a value (0.0 when
none does); ``tasks_per_minute`` / ``tasks_per_hour`` are finished / period length.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from persistence.errors import wrap_db_errors
from persistence.records import jsonable
from persistence.schema import agent_metrics
from persistence.sql import queries
from persistence.sql_store import EngineSource, custom_plans, engine_of

SQL_FILE = "metrics.sql"


@functools.cache
def aggregate_sql() -> str:
    """metrics.sql's ``aggregate_metrics`` with its column lists filled in from the
    ``metric_columns`` block (one list for both upserts' inserts and updates)."""
    q = queries(SQL_FILE)
    lines = [ln for ln in q["metric_columns"].splitlines() if not ln.lstrip().startswith("--")]
    columns = [c.strip() for c in " ".join(lines).split(",") if c.strip()]
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    return (
        q["aggregate_metrics"]
        .replace("{metric_columns}", ", ".join(columns))
        .replace("{update_metric_columns}", update)
    )


def aggregate_metrics(
    engine_or_store: EngineSource,
    *,
    period_minutes: int = 5,
    now: datetime | None = None,
    backfill_periods: int = 288,
) -> int:
    """Aggregate every closed period not yet aggregated; returns the rows upserted.

    Parameters
    ----------
    engine_or_store:
        An SQLAlchemy engine, or a store with an ``engine`` (``SQLStore``).
    period_minutes:
        Period length; periods are aligned to multiples of it since the epoch.
    now:
        The current time (default: the database's ``now()``); only periods that ended
        at or before it are aggregated.
    backfill_periods:
        At most this many periods back from the last closed one are (re)computed: after
        beat was down, the next run fills the gap up to this bound. The latest period
        already aggregated is always redone, to take in records that arrived late.
    """
    return len(_aggregate(engine_or_store, period_minutes, now, backfill_periods, rows=False))


def aggregate_metrics_rows(
    engine_or_store: EngineSource,
    *,
    period_minutes: int = 5,
    now: datetime | None = None,
    backfill_periods: int = 288,
) -> list[dict[str, Any]]:
    """:func:`aggregate_metrics`, returning the rows it upserted as the transaction left
    them: every column as JSON values, plus ``agent_id`` (the instance's natural key; None
    for per-type rows). What beat mirrors."""
    return _aggregate(engine_or_store, period_minutes, now, backfill_periods, rows=True)


def _aggregate(
    engine_or_store: EngineSource,
    period_minutes: int,
    now: datetime | None,
    backfill: int,
    *,
    rows: bool,
) -> list[Any]:
    if period_minutes < 1 or backfill < 1:
        raise ValueError("period_minutes and backfill_periods must be at least 1")
    q = queries(SQL_FILE)
    params = {"minutes": period_minutes, "now": now, "backfill": backfill}
    with wrap_db_errors(), engine_of(engine_or_store).begin() as conn:
        conn.exec_driver_sql(q["lock_aggregation"])
        ids = list(conn.exec_driver_sql(aggregate_sql(), params).scalar_one())
        if not rows or not ids:
            return ids
        found = conn.exec_driver_sql(q["rows_by_id"], {"ids": ids}).mappings()
        return [jsonable(dict(m)) for m in found]


def metrics_rows(engine_or_store: EngineSource, ids: list[str]) -> list[dict[str, Any]]:
    """Whole ``agent_metrics`` rows by id, as :func:`aggregate_metrics_rows` gives them."""
    with wrap_db_errors(), engine_of(engine_or_store).connect() as conn:
        found = conn.exec_driver_sql(queries(SQL_FILE)["rows_by_id"], {"ids": ids}).mappings()
        return [jsonable(dict(m)) for m in found]


_COLUMNS = {c.name for c in agent_metrics.columns} - {"id", "created_at"}


def store_agent_metrics(store: EngineSource, metrics: dict[str, Any]) -> str:
    """Upsert one ``agent_metrics`` row (the integration design's service call); returns its id.

    ``metrics`` holds column values; the instance is given by ``agent_instance_id`` or
    by ``agent_id`` (``agent_instances.agent_id``), and without either the row is the
    per-type row of ``agent_type``. ``period_start``, ``period_end`` and ``agent_type``
    are required (``agent_type`` is taken from the instance when omitted);
    ``period_duration_minutes`` defaults to the period's length. An existing row with
    the same key (instance or type, period start) is updated.
    """
    unknown = set(metrics) - _COLUMNS - {"agent_id"}
    if unknown:
        raise ValueError(f"unknown agent_metrics columns: {', '.join(sorted(unknown))}")
    row = {k: v for k, v in metrics.items() if k != "agent_id"}
    for key in ("period_start", "period_end"):
        if key not in row:
            raise ValueError(f"metrics need {key}")
    if "period_duration_minutes" not in row:
        span = row["period_end"] - row["period_start"]
        row["period_duration_minutes"] = round(span.total_seconds() / 60)
    with wrap_db_errors(), engine_of(store).begin() as conn:
        if metrics.get("agent_id") is not None and row.get("agent_instance_id") is None:
            found = conn.exec_driver_sql(
                queries(SQL_FILE)["get_instance"], {"agent_id": metrics["agent_id"]}
            ).first()
            if found is None:
                raise ValueError(f"unknown agent_id {metrics['agent_id']!r}")
            row["agent_instance_id"] = found[0]
            row.setdefault("agent_type", found[1])
        if "agent_type" not in row:
            raise ValueError("metrics need agent_type (or an instance)")
        stmt = insert(agent_metrics).values(**row)
        update = {k: stmt.excluded[k] for k in row if k != "agent_instance_id"}
        if row.get("agent_instance_id") is not None:
            stmt = stmt.on_conflict_do_update(constraint="unique_agent_period", set_=update)
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=["agent_type", "period_start", "period_duration_minutes"],
                index_where=agent_metrics.c.agent_instance_id.is_(None),
                set_=update,
            )
        new_id = conn.execute(stmt.returning(agent_metrics.c.id)).scalar_one()
    return str(new_id)


def get_agent_metrics(
    store: EngineSource, agent_id: str | None, hours: float = 24, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Metrics rows of the last ``hours`` (by ``period_end``), newest first.

    ``agent_id`` is ``agent_instances.agent_id`` (``<agent_type>@<worker>``); with
    ``None``, every row: per-instance ones and per-type ones (their ``agent_id`` None).
    """
    params = {"agent_id": agent_id, "hours": hours, "now": now}
    with wrap_db_errors(), engine_of(store).connect() as conn:
        custom_plans(conn)
        rows = conn.exec_driver_sql(queries(SQL_FILE)["get_agent_metrics"], params).mappings()
        return [dict(r) for r in rows]
