"""Reading the record for the operations page and its JSON API (``workers/serve/api.py``).

Queries live in ``persistence/sql/browse.sql``; one execution with its history is
:meth:`persistence.sql_store.SQLStore.get_execution`, metrics rows are
:func:`persistence.metrics.get_agent_metrics`.

Executions are paged newest first by keyset on ``(created_at, task_id)``: a page is
"the ``limit`` rows strictly below the cursor", so a row inserted while someone pages
never shifts the pages. The cursor is the last row's key; :func:`encode_cursor` makes it
opaque text for a URL and :func:`decode_cursor` reads it back (``ValueError`` when it is
not one). ``created_at`` only ever moves earlier (the recorder keeps the earliest time
it saw): a row whose producer's ``pending`` lands after the worker's ``running`` can move
down by that difference, and appear once more on a later page.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from persistence.errors import wrap_db_errors
from persistence.sql import queries
from persistence.sql_store import EngineSource, custom_plans, engine_of

SQL_FILE = "browse.sql"
Cursor = tuple[datetime, str]


def encode_cursor(created_at: datetime, task_id: str) -> str:
    """The opaque cursor after the row ``(created_at, task_id)``: URL-safe base64 of JSON."""
    raw = json.dumps([created_at.isoformat(), task_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The key a cursor of :func:`encode_cursor` holds; ``ValueError`` if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, task_id = json.loads(raw)
        when = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, RecursionError):  # RecursionError: [[[[…
        raise ValueError("not a cursor this API returned") from None
    if when.tzinfo is None or not isinstance(task_id, str) or not task_id:
        raise ValueError("not a cursor this API returned")
    return when, task_id


def list_executions(
    store: EngineSource,
    *,
    status: str | None = None,
    agent_type: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
    before: Cursor | None = None,
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of executions, newest first, and the cursor of the next page (None when
    this is the last). Filters are exact matches; the caller validates them."""
    params = {
        "status": status,
        "agent_type": agent_type,
        "user_id": user_id,
        "limit": int(limit),
        "before_at": before[0] if before else None,
        "before_id": before[1] if before else None,
    }
    with wrap_db_errors(), engine_of(store).connect() as conn:
        custom_plans(conn)
        rows = [
            dict(r)
            for r in conn.exec_driver_sql(queries(SQL_FILE)["list_executions"], params).mappings()
        ]
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, (rows[-1]["created_at"], rows[-1]["task_id"])


def list_agents(store: EngineSource, stale_s: float = 60.0) -> list[dict[str, Any]]:
    """Every agent instance, with ``heartbeat_age_seconds`` and ``online`` (not offline,
    a heartbeat within ``stale_s``), by agent type and worker."""
    with wrap_db_errors(), engine_of(store).connect() as conn:
        rows = conn.exec_driver_sql(
            queries(SQL_FILE)["list_agents"], {"stale_s": float(stale_s)}
        ).mappings()
        return [dict(r) for r in rows]
