"""What PostgreSQL spends per task in agentq_record_batch, and on which part of the schema.

    .venv/bin/python -m bench.bench_record_batch [--repeat 5] [--batches 100] [--tasks 100]
        [--only WORD ...]

Creates and migrates the database ``agentq_bench_batch`` (only that one; ``AGENTQ_BENCH_DB``
renames it; the server from ``AGENTQ_BENCH_PG``, default
postgresql://postgres@127.0.0.1:5432/postgres), then records batches of ``--tasks`` tasks
(pending, queued, running and completed of each, the wire format the recorder hands over)
through one connection and reads that backend's CPU from /proc. Variants, interleaved per
repetition, each undone right after its run: the schema as built, and without one element
at a time (the events FK, the events' task_id index, the realtime triggers, the
updated_at index, 0008's agent_instance_id index, 0010's fleet counts, 0012's history id
check, 0013's indexes), to show what each costs (``--only counts``: the schema as built
and the variants naming "counts").
Every run starts on empty tables; the order rotates between repetitions. Medians of the
repetitions, in µs of backend CPU per task.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

from persistence import wire
from persistence.sql import current_definition, read_sql

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("AGENTQ_BENCH_DB", "agentq_bench_batch")
DB_URL = PG_ADMIN.rsplit("/", 1)[0] + "/" + DB_NAME
CLK_TCK = os.sysconf("SC_CLK_TCK")

_FK = "agent_execution_events_task_id_fkey"
_ID_CHECK = (  # the lines of 0012's recorder marked "0012" that search the history
    "        WHERE NOT EXISTS (SELECT FROM agent_executions k, agent_execution_events x  -- 0012\n"
    "                          WHERE k.task_id = e.t AND x.task_id = e.t AND x.id = e.id  -- 0012\n"
    "                            AND x.occurred_at >= k.created_at)  -- 0012\n"
)


def _recorder_of_0012() -> str:
    """The recorder's function since 0012 (persistence/sql/current/functions.sql)."""
    function = current_definition("agentq_record_batch_within")
    if _ID_CHECK not in function:
        raise RuntimeError("the current recorder no longer has 0012's id check")
    return function


_TRIGGERS = ("agentq_realtime_executions_insert", "agentq_realtime_executions_update")
_INDEXES_0013 = (
    "idx_agent_executions_created_task",
    "idx_agent_executions_user_created_task",
    "idx_agent_executions_status_at",
    "idx_agent_metrics_period_end",
)
VARIANTS: dict[str, tuple[list[str], list[str]]] = {
    "as built": ([], []),
    "without the events FK": (
        [f"ALTER TABLE agent_execution_events DROP CONSTRAINT {_FK}"],
        [
            f"ALTER TABLE agent_execution_events ADD CONSTRAINT {_FK} FOREIGN KEY (task_id)"
            " REFERENCES agent_executions (task_id) ON DELETE CASCADE"
            " DEFERRABLE INITIALLY DEFERRED"
        ],
    ),
    "without the events task_id index": (
        ["DROP INDEX idx_agent_execution_events_task_id"],
        [
            "CREATE INDEX idx_agent_execution_events_task_id"
            " ON agent_execution_events (task_id, occurred_at)"
        ],
    ),
    "without the realtime triggers": (
        [f"ALTER TABLE agent_executions DISABLE TRIGGER {t}" for t in _TRIGGERS],
        [f"ALTER TABLE agent_executions ENABLE TRIGGER {t}" for t in _TRIGGERS],
    ),
    "without the updated_at index": (
        ["DROP INDEX idx_agent_executions_updated_at"],
        ["CREATE INDEX idx_agent_executions_updated_at ON agent_executions (updated_at)"],
    ),
    # Migration 0008: what the index for the instance cascade costs the recording.
    "without the agent_instance_id index": (
        ["DROP INDEX idx_agent_executions_agent_instance_id"],
        [
            "CREATE INDEX idx_agent_executions_agent_instance_id"
            " ON agent_executions (agent_instance_id)"
        ],
    ),
    # Migration 0013: what the page's and the health report's indexes cost the recording.
    "without 0013's indexes": (
        [f"DROP INDEX {name}" for name in _INDEXES_0013],
        [read_sql("0013_query_indexes.sql")],
    ),
    "without 0013's (created_at, task_id) index": (
        ["DROP INDEX idx_agent_executions_created_task"],
        [read_sql("0013_query_indexes.sql")],
    ),
    # Migration 0010: what counting the fleet's metrics in the recorder's transaction costs.
    "without the fleet counts": (
        [
            "CREATE OR REPLACE FUNCTION agentq_count_transitions(fresh agentq_wire_event[])"
            " RETURNS void LANGUAGE sql AS $$ SELECT $$"
        ],
        # idempotent: puts the function back (0012 restates the recorder's function on 0010's)
        [read_sql("0010_task_counts.sql"), _recorder_of_0012()],
    ),
    # Migration 0012: what recognising a known event by (task_id, id) in every history
    # partition costs (the unique id of 0011 cannot exist on a partitioned table).
    "without the history's id check": (
        [_recorder_of_0012().replace(_ID_CHECK, "")],
        [_recorder_of_0012()],
    ),
}


def _setup() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    env = {**os.environ, "DATABASE_URL": DB_URL}
    subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def _batch(tasks: int) -> str:
    """One recorder batch: the four transitions of ``tasks`` no-op tasks."""
    evs = []
    now = time.time()
    for i in range(tasks):
        t = uuid.uuid4().hex
        common = ("content_generator", "noop")
        request = {"input_data": {"n": i}, "user_id": None, "session_id": None}
        evs += [
            wire.transition(uuid.uuid4().hex, t, "pending", 0, now, *common, request=request),
            wire.transition(uuid.uuid4().hex, t, "queued", 0, now, *common),
            wire.transition(
                uuid.uuid4().hex, t, "running", 0, now + 0.001, *common, worker="w@bench"
            ),
            wire.transition(
                uuid.uuid4().hex,
                t,
                "completed",
                0,
                now + 0.002,
                *common,
                worker="w@bench",
                result={"output_data": {"ok": True}, "quality_score": 1.0},
            ),
        ]
    return wire.encode(evs).decode()


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _run(conn: psycopg.Connection[tuple[object, ...]], pid: int, batches: int, tasks: int) -> float:
    """Backend CPU µs per task over ``batches`` committed batches."""
    payloads = [_batch(tasks) for _ in range(batches)]
    before = _cpu(pid)
    for payload in payloads:
        with conn.transaction():
            conn.execute("SELECT * FROM agentq_record_batch(%s::json)", (payload,))
    return (_cpu(pid) - before) / (batches * tasks) * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--batches", type=int, default=100, help="batches per run (default 100)")
    p.add_argument("--tasks", type=int, default=100, help="tasks per batch (default 100)")
    p.add_argument(
        "--only", nargs="*", default=None, help="variants whose name holds one of these words"
    )
    args = p.parse_args(argv)
    _setup()
    names = [
        n
        for n in VARIANTS
        if n == "as built" or args.only is None or any(w in n for w in args.only)
    ]
    results: dict[str, list[float]] = {name: [] for name in names}
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(str(row[0]))
        _run(conn, pid, 10, args.tasks)  # plans, caches: not measured
        for rep in range(args.repeat):
            shift = rep % len(names)  # rotated order: no variant always runs first
            for name in names[shift:] + names[:shift]:
                apply, undo = VARIANTS[name]
                # Same starting point for every run: empty tables (they would grow).
                conn.execute(
                    "TRUNCATE agent_execution_events, agent_executions, agent_instances CASCADE"
                )
                for sql in apply:
                    conn.execute(sql)
                try:
                    results[name].append(_run(conn, pid, args.batches, args.tasks))
                finally:
                    for sql in undo:
                        conn.execute(sql)
    base = statistics.median(results["as built"])
    print(f"PostgreSQL backend CPU per task, {args.tasks} tasks per batch, median of {args.repeat}")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:<36}{med:7.1f} µs   ({med / base:.2f}x)")
    print(
        f"(resolution: one clock tick = {1e6 / CLK_TCK / (args.batches * args.tasks):.1f} µs/task)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
