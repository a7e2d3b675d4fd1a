"""Rows for the realtime tests to see: executions inserted straight into the test
database, as the record function would leave them (tests/integration/test_realtime_*.py)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def db(database_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)


def insert_executions(conn: psycopg.Connection[Any], n: int, **cols: Any) -> list[str]:
    """``n`` queued executions in one statement; their task ids."""
    prefix = uuid.uuid4().hex[:8]
    rows = conn.execute(
        "INSERT INTO agent_executions (task_id, agent_type, task_type, status, user_id,"
        " error_message)"
        " SELECT %(p)s || '-' || lpad(g::text, 3, '0'), 'quiz_generator', 'quiz', 'queued',"
        " %(user_id)s, %(error)s FROM generate_series(1, %(n)s) g RETURNING task_id",
        {"p": prefix, "n": n, "user_id": cols.get("user_id"), "error": cols.get("error")},
    ).fetchall()
    return sorted(r[0] for r in rows)
