"""Revision 0012 at scale: converting a month of history to partitions, and retention by
partitions against the row-by-row DELETE it replaces.

    .venv/bin/python -m bench.bench_partitions [--executions 2000000] [--history 8000000]
        [--delete-budget 60] [--port 27101]

Starts its own PostgreSQL cluster (``tests/support/servers.py``, fsync off; the machine's
servers are never touched), migrates a database to 0011 and fills it as a month-old
database with ``bench/drain/load.py`` (COPY; four history rows per execution, times spread
over the 30 days before now). Then, in order:

1. **today's DELETE** (0011, plain tables, on a copy of the database): retention's
   batches (``persistence/sql/health.sql (purge_executions)``, 5000 rows, history
   cascading) with every execution's end before the cutoff, for ``--delete-budget``
   seconds; the rate, and the time the whole month would take at that rate
   (extrapolated, marked so).
2. **the migration** to 0012 (every row copied into weekly partitions), timed, while a
   writer inserts one history row and its execution every 20 ms (the recorder's order):
   how long its longest write waited, and how many failed.
3. **retention by partitions** (0012): every history week before this one detached and
   dropped (``persistence/partitions.py``), timed with the rows it held; then the
   executions' DELETE batches for the same budget (their cascade finds no history).

Results in ``bench/results/partitions_last_run.json``; numbers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.drain import load
from persistence import partitions
from persistence.migration_service import MigrationService
from persistence.sql import queries
from persistence.sql_store import SQLStore
from tests.support.servers import PostgresServer

RESULTS = Path(__file__).resolve().parent / "results" / "partitions_last_run.json"
DB = "agentq_bench_partitions"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--executions", type=int, default=2_000_000)
    p.add_argument("--history", type=int, default=8_000_000)
    p.add_argument("--delete-budget", type=float, default=60.0)
    p.add_argument("--port", type=int, default=27101)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args(argv)


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM agent_executions),"
            " (SELECT count(*) FROM agent_execution_events)"
        ).fetchone()
    assert row is not None
    return {"executions": int(row[0]), "history": int(row[1])}


def _delete_batches(url: str, cutoff: datetime, budget_s: float) -> dict[str, Any]:
    """Retention's executions DELETE, as beat runs it, for ``budget_s`` seconds."""
    sql = queries("health.sql")["purge_executions"]
    before = _counts(url)
    deleted = batches = 0
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() - t0 < budget_s:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = 2000")
                n = len(conn.execute(sql, {"cutoff": cutoff, "batch": 5000}).fetchall())
            deleted += n
            batches += 1
            if n < 5000:
                break
    seconds = time.monotonic() - t0
    after = _counts(url)
    history = before["history"] - after["history"]
    return {
        "seconds": round(seconds, 1),
        "batches": batches,
        "executions_deleted": deleted,
        "history_deleted": history,
        "executions_per_s": round(deleted / seconds),
        "history_rows_per_s": round(history / seconds),
    }


class Writer(threading.Thread):
    """One execution and one history row every 20 ms, each write timed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                tid = f"writer-{uuid.uuid4()}"
                t = time.monotonic()
                try:
                    # The recorder's order: history first (its foreign key is deferred).
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO agent_execution_events"
                            " (id, task_id, status, attempt, occurred_at)"
                            " VALUES (gen_random_uuid(), %s, 'pending', 0, now())",
                            (tid,),
                        )
                        conn.execute(
                            "INSERT INTO agent_executions (task_id, agent_type, task_type)"
                            " VALUES (%s, 'quiz_generator', 'quiz')",
                            (tid,),
                        )
                except psycopg.Error as exc:
                    self.errors.append(str(exc).splitlines()[0])
                self.latencies.append(time.monotonic() - t)
                time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    pg = PostgresServer(port=args.port)
    out: dict[str, Any] = {
        "benchmark": "bench_partitions",
        "settings": vars(args) | {"output": str(args.output)},
    }
    try:
        pg.start()
        base = pg.url.rsplit("/", 1)[0]
        url = f"{base}/{DB}"
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB}")
            out["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        service = MigrationService(url.replace("postgresql://", "postgresql+psycopg://"))
        service.run_migrations("0011_trace_id")
        print("loading ...", flush=True)
        out["load"] = load.load(url, args.executions, args.history, workers=8)
        out["loaded"] = _counts(url)
        print(out["loaded"], flush=True)

        now = datetime.now(UTC)
        this_week = partitions.week_start(now)
        print("today's DELETE (on a copy) ...", flush=True)
        copy = f"{base}/{DB}_copy"
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB}_copy TEMPLATE {DB}")
        out["delete_0011"] = _delete_batches(copy, this_week, args.delete_budget)
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {DB}_copy")
        out["before_migration"] = _counts(url)
        rate = out["delete_0011"]["history_rows_per_s"] or 1
        out["delete_0011"]["month_extrapolated_s"] = round(args.history / rate)
        print(out["delete_0011"], flush=True)

        print("migrating to 0012 with a writer ...", flush=True)
        writer = Writer(url)
        writer.start()
        time.sleep(2)  # the writer's normal pace first
        t = time.monotonic()
        service.run_migrations()
        migrate_s = time.monotonic() - t
        time.sleep(2)
        writer.stop.set()
        writer.join()
        lat = sorted(writer.latencies)
        out["migration_0012"] = {
            "seconds": round(migrate_s, 1),
            "rows": out["before_migration"],
            "writer": {
                "writes": len(lat),
                "errors": len(writer.errors),
                "first_errors": writer.errors[:3],
                "max_wait_s": round(lat[-1], 2) if lat else None,
                "median_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
                "writes_over_1s": sum(1 for x in lat if x > 1.0),
            },
        }
        print(out["migration_0012"], flush=True)

        print("retention by partitions ...", flush=True)
        store = SQLStore(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
        try:
            t = time.monotonic()
            names, rows = partitions.drop_before(store, "agent_execution_events", this_week)
            out["drop_partitions_0012"] = {
                "seconds": round(time.monotonic() - t, 2),
                "partitions": names,
                "history_rows": rows,
            }
        finally:
            store.close()
        print(out["drop_partitions_0012"], flush=True)
        out["delete_0012"] = _delete_batches(url, this_week, args.delete_budget)
        print(out["delete_0012"], flush=True)
        out["after"] = _counts(url)
    finally:
        pg.destroy()
    out["started"] = started.isoformat(timespec="seconds")
    out["wall_s"] = round((datetime.now(UTC) - started).total_seconds())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"results in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
