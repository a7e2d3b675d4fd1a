"""A database a month old: executions and their history loaded by COPY before a drain.

Rows are generated here and streamed with psycopg's ``COPY ... FROM STDIN`` (text format),
four history rows per execution (pending, queued, running, the end), times spread over the
30 days before now in time order (as they would have been written), ids random. The mix:
90 % completed, 8 % failed (with a traceback), 2 % cancelled, over the same agent
instances the drained traffic uses.

How: the tables are truncated, their foreign keys, primary keys, unique constraints and
indexes dropped, and the rows copied with ``FREEZE`` (as VACUUM would have left them
after a month) and no trigger firing (``session_replication_role = replica``: the
realtime triggers would announce every row); then every index and constraint is built
again from the definitions read from the catalog before dropping them (so they are
exactly what the migrations made) and both tables are analyzed. At the default size that
took 172 s against 270 s for the same COPY into the indexed tables (maintaining the
random-uuid keys row by row grows dearer as the indexes outgrow shared_buffers; at a
quarter of the size it was 46 s against 51 s: generating the rows in Python is most of it).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg

from persistence.schema import AGENT_TYPE_VALUES

TABLES = ("agent_executions", "agent_execution_events")
DAY = 86_400.0
_EXEC_COLS = (
    "id, task_id, agent_instance_id, agent_type, task_type, priority, input_data, output_data,"
    " status, error_message, error_details, execution_time_seconds, quality_score, created_at,"
    " started_at, completed_at, user_id, session_id, retry_count, max_retries, attempts,"
    " error_type, worker, enqueued_at, status_at, updated_at"
)
_EVENT_COLS = "id, task_id, status, attempt, occurred_at, worker, detail, recorded_at"
_N = "\\N"


def _esc(text: str) -> str:
    """A value in COPY's text format (backslash, tab, newline escaped)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


_TB = _esc(
    orjson.dumps(
        "Traceback (most recent call last):\n"
        + '  File "/app/tasks/agents/base.py", line 118, in run\n' * 12
    ).decode()
)


class _Clock:
    """Seconds since the epoch as timestamptz text, the minute's prefix cached."""

    def __init__(self) -> None:
        self._minute = -1
        self._prefix = ""

    def __call__(self, t: float) -> str:
        minute = int(t // 60)
        if minute != self._minute:
            self._minute = minute
            self._prefix = time.strftime("%Y-%m-%d %H:%M:", time.gmtime(minute * 60))
        s = t - minute * 60
        return f"{self._prefix}{s:09.6f}+00"


def instances(conn: psycopg.Connection[Any], workers: int) -> dict[str, str]:
    """The agent instances of the traffic's workers (agent_id -> id), created if missing."""
    rows = [
        (f"{ag}@celery@bench-{w}", ag, f"celery@bench-{w}")
        for ag in AGENT_TYPE_VALUES
        for w in range(workers)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO agent_instances (agent_id, agent_type, worker, status)"
            " VALUES (%s, %s, %s, 'idle') ON CONFLICT (agent_id) DO NOTHING",
            rows,
        )
        cur.execute("SELECT agent_id, id::text FROM agent_instances")
        return {a: i for a, i in cur.fetchall()}


def _rows(
    n: int, workers: int, ids: dict[str, str], seed: int, users: int = 0
) -> Iterator[tuple[str, str]]:
    """(execution line, its four history lines) per execution, oldest first. ``users``:
    that many distinct user ids drawn at random; 0, a new one per execution."""
    rng = random.Random(seed)
    pool = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(users)]
    ts = _Clock()
    t0 = time.time() - 30 * DAY
    step = 30 * DAY / max(1, n)
    for i in range(n):
        tid = str(uuid.uuid4())
        ag = AGENT_TYPE_VALUES[i % len(AGENT_TYPE_VALUES)]
        worker = f"celery@bench-{rng.randrange(workers)}"
        enq = t0 + i * step
        start = enq + rng.random() * 0.2
        took = rng.random() * 2
        end = start + took
        x = rng.random()
        status = "completed" if x < 0.90 else "failed" if x < 0.98 else "cancelled"
        user = (
            pool[rng.randrange(users)]
            if users
            else str(uuid.UUID(int=rng.getrandbits(128), version=4))
        )
        inp = f'{{"topic": "fractions, lesson {i % 97}", "grade": {i % 12}, "length": "medium"}}'
        out = err = etype = details = quality = _N
        detail = f'{{"execution_time_seconds": {took:.6f}}}'
        if status == "completed":
            out = (
                f'{{"text": "Lesson {i}: {"a fraction names part of a whole. " * 6}",'
                f' "tokens": {180 + i % 50}}}'
            )
            quality = f"{0.5 + rng.random() / 2:.3f}"
            detail = f'{{"quality_score": {quality}, "execution_time_seconds": {took:.6f}}}'
        elif status == "failed":
            err, etype = "the model returned no usable content", "ValueError"
            details = (
                f'{{"attempt": 0, "rank": 41, "status": "failed", "type": "ValueError",'
                f' "traceback": {_TB}}}'
            )
            detail = (
                f'{{"error_type": "ValueError", "error_message": "{err}",'
                f' "execution_time_seconds": {took:.6f}}}'
            )
        e_enq, e_start, e_end = ts(enq), ts(start), ts(end)
        exec_line = "\t".join(
            (
                str(uuid.uuid4()),
                tid,
                ids[f"{ag}@{worker}"],
                ag,
                "generate",
                "normal",
                inp,
                out,
                status,
                err,
                details,
                f"{took:.6f}",
                quality,
                e_enq,
                e_start,
                e_end,
                user,
                f"sess-{i % 5000}",
                "0",
                "3",
                "1",
                etype,
                worker,
                e_enq,
                e_end,
                e_end,
            )
        )
        u = uuid.uuid4
        history = (
            f"{u()}\t{tid}\tpending\t0\t{e_enq}\t{_N}\t{_N}\t{e_enq}\n"
            f"{u()}\t{tid}\tqueued\t0\t{e_enq}\t{_N}\t{_N}\t{e_enq}\n"
            f"{u()}\t{tid}\trunning\t0\t{e_start}\t{worker}\t{_N}\t{e_start}\n"
            f"{u()}\t{tid}\t{status}\t0\t{e_end}\t{worker}\t{detail}\t{e_end}\n"
        )
        yield exec_line + "\n", history


def _definitions(conn: psycopg.Connection[Any]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(table, name, definition) of the constraints (keys first, foreign keys last) and the
    CREATE INDEX statements of the other indexes, of both tables."""
    cons = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('p', 'u', 'f')"
        " ORDER BY contype = 'f', conname",
        (list(TABLES),),
    ).fetchall()
    idx = conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[])"
        " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        " ORDER BY 1",
        (list(TABLES),),
    ).fetchall()
    return [(str(t), str(n), str(d)) for t, n, d in cons], [str(r[0]) for r in idx]


def load(
    url: str, executions: int, history: int, workers: int, seed: int = 30, users: int = 0
) -> dict[str, Any]:
    """Replace both tables' rows with ``executions`` and ``history // executions`` (1 to 4:
    pending, queued, running, the end) history rows each; returns timings. ``users``: the
    number of distinct user ids (0: one per execution, as the drain bench loads)."""
    per = min(4, max(1, history // max(1, executions)))
    timings: dict[str, Any] = {
        "executions": executions,
        "history": executions * per,
        "method": "keys, foreign keys and indexes dropped; COPY FREEZE; all rebuilt; ANALYZE",
    }
    with psycopg.connect(url) as conn:
        ids = instances(conn, workers)
        conn.commit()
        cons, indexes = _definitions(conn)
        t = time.monotonic()
        conn.execute("SET session_replication_role = replica")
        conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        for table, name, _ in reversed(cons):  # foreign keys first
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for ddl in indexes:
            conn.execute("DROP INDEX " + ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0])
        chunks: list[str] = []  # the history, copied second (one COPY at a time)
        with conn.cursor() as cur:
            with cur.copy(f"COPY agent_executions ({_EXEC_COLS}) FROM STDIN (FREEZE)") as cp:
                lines: list[str] = []
                hist: list[str] = []
                for line, four in _rows(executions, workers, ids, seed, users):
                    lines.append(line)
                    hist.append(four if per == 4 else "".join(four.splitlines(True)[:per]))
                    if len(lines) >= 2000:
                        cp.write("".join(lines))
                        chunks.append("".join(hist))
                        lines.clear()
                        hist.clear()
                cp.write("".join(lines))
                chunks.append("".join(hist))
            # FREEZE needs a plain table: the history is range-partitioned since 0012.
            plain = conn.execute(
                "SELECT relkind = 'r' FROM pg_class WHERE oid = 'agent_execution_events'::regclass"
            ).fetchone()
            freeze = " (FREEZE)" if plain and plain[0] else ""
            with cur.copy(f"COPY agent_execution_events ({_EVENT_COLS}) FROM STDIN{freeze}") as cp:
                while chunks:
                    cp.write(chunks.pop(0))
        conn.commit()
        timings["copy_s"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for ddl in indexes:
            conn.execute(ddl)
        for table, name, definition in cons:
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        conn.commit()
        timings["indexes_s"] = round(time.monotonic() - t, 1)
        conn.autocommit = True
        t = time.monotonic()
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")
        timings["vacuum_s"] = round(time.monotonic() - t, 1)
        timings["rebuilt"] = {"constraints": [c[1] for c in cons], "indexes": len(indexes)}
    return timings
