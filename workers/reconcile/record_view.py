"""What the record says is still open: executions in pending, queued, retrying, running.

Read from the primary database in keyset pages (``persistence/sql/reconcile.sql``), or
from any object holding :class:`persistence.lifecycle.Execution` rows (the in-memory
store of the unit tests) with :func:`open_rows_of`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from persistence.errors import wrap_db_errors
from persistence.lifecycle import Execution
from persistence.sql import queries

OPEN_STATUSES = ("pending", "queued", "retrying", "running")
WAITING_STATUSES = ("pending", "queued", "retrying")  # a message should be in the broker


@dataclass(frozen=True, slots=True)
class OpenRow:
    task_id: str
    agent_type: str
    task_type: str
    status: str
    attempt: int
    status_at: float  # seconds since the epoch
    worker: str | None = None


@dataclass(slots=True)
class RecordView:
    rows: list[OpenRow]
    now: float  # the database's clock: ages are measured against the times it stored
    pages: int = 0
    seconds: float = 0.0


def _q() -> dict[str, str]:
    return queries("reconcile.sql")


def open_rows_of(executions: Iterable[Execution]) -> list[OpenRow]:
    """The open rows among ``executions`` (the in-memory store's)."""
    return [
        OpenRow(
            e.task_id,
            e.agent_type,
            e.task_type,
            str(e.status),
            e.retry_count,
            e.status_at.timestamp(),
            e.worker,
        )
        for e in executions
        if str(e.status) in OPEN_STATUSES
    ]


def read_record(store: Any, *, page: int = 1000) -> RecordView:
    """Every open execution of the SQL ``store``, ``page`` rows per query."""
    q = _q()
    start = time.perf_counter()
    rows: list[OpenRow] = []
    pages = 0
    with wrap_db_errors(), store.engine.connect() as conn:
        now = float(conn.exec_driver_sql(q["db_now"]).scalar_one())
        after = ""
        while True:
            got = conn.exec_driver_sql(q["open_executions"], {"after": after, "page": page}).all()
            pages += 1
            rows.extend(
                OpenRow(r[0], r[1], r[2] or "", r[3], int(r[4]), float(r[5]), r[6]) for r in got
            )
            if len(got) < page:
                break
            after = got[-1][0]
    return RecordView(rows, now, pages, time.perf_counter() - start)


def existing_ids(store: Any, ids: Sequence[str], page: int = 1000) -> set[str]:
    """Which of ``ids`` have a row at all."""
    out: set[str] = set()
    with wrap_db_errors(), store.engine.connect() as conn:
        for i in range(0, len(ids), page):
            chunk = list(ids[i : i + page])
            out.update(
                r[0] for r in conn.exec_driver_sql(_q()["existing_task_ids"], {"ids": chunk})
            )
    return out


def states(store: Any, ids: Sequence[str]) -> dict[str, tuple[str, int, float]]:
    """``task_id -> (status, attempt, status_at)`` of ``ids`` now."""
    if not ids:
        return {}
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["executions_state"], {"ids": list(ids)}).all()
    return {r[0]: (r[1], int(r[2]), float(r[3])) for r in rows}


def requests(store: Any, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The recorded request of ``ids`` (what a lost task is published again from)."""
    if not ids:
        return {}
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["execution_requests"], {"ids": list(ids)}).mappings()
        return {r["task_id"]: dict(r) for r in rows}


def online_workers(store: Any, stale_s: float) -> set[str]:
    with wrap_db_errors(), store.engine.connect() as conn:
        rows = conn.exec_driver_sql(_q()["online_workers"], {"stale_s": float(stale_s)})
        return {str(r[0]) for r in rows}
