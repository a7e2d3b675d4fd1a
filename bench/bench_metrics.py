"""What aggregating one metrics period costs: the set-based statement vs a naive loop.

    .venv/bin/python -m bench.bench_metrics [--executions 1000000] [--periods 288]

Builds the database ``agentq_bench_metrics`` (migrated to head), fills
``agent_executions`` with synthetic finished executions (COPY) spread evenly over
``--periods`` closed 5-minute periods, checks with EXPLAIN that the aggregation reads
the period through ``idx_agent_executions_completed_at``, then times, interleaved,
(a) ``persistence.metrics.aggregate_metrics`` of the last closed period, and
(b) a naive aggregation: fetch the period's rows, loop over them in Python, and
upsert one row per group with ``store_agent_metrics``. Reports medians and the ratio.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from persistence.metrics import aggregate_metrics, aggregate_sql, store_agent_metrics
from persistence.migration_service import MigrationService
from persistence.schema import AGENT_TYPE_VALUES
from persistence.sql_store import SQLStore

DB_NAME = "agentq_bench_metrics"
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # aligned to every period length
WORKERS = ("w1", "w2", "w3", "w4")
TERMINAL = ("completed", "failed", "cancelled")
TARGET_SECONDS = 1.0


def _urls() -> tuple[str, str]:
    admin = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    plain = admin.rsplit("/", 1)[0] + "/" + DB_NAME
    return plain, plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _generate(conn: psycopg.Connection[Any], n: int, periods: int, minutes: int) -> None:
    """``n`` finished executions of 32 instances, completed_at uniform over the periods."""
    rnd = random.Random(42)
    conn.execute(
        "TRUNCATE agent_execution_events, agent_executions, agent_metrics, agent_instances"
    )
    instances: list[tuple[Any, str]] = []
    for agent_type in AGENT_TYPE_VALUES:
        for w in WORKERS:
            row = conn.execute(
                "INSERT INTO agent_instances (agent_id, agent_type, status, worker) "
                "VALUES (%s, %s, 'idle', %s) RETURNING id",
                (f"{agent_type}@{w}", agent_type, w),
            ).fetchone()
            assert row is not None
            instances.append((row[0], agent_type))
    span = periods * minutes * 60
    cols = (
        "task_id, agent_instance_id, agent_type, task_type, status, execution_time_seconds, "
        "quality_score, created_at, started_at, completed_at, status_at, attempts, worker"
    )
    with conn.cursor().copy(f"COPY agent_executions ({cols}) FROM STDIN") as copy:
        for i in range(n):
            inst, agent_type = instances[rnd.randrange(len(instances))]
            done = T0 + timedelta(seconds=rnd.random() * span)
            r = rnd.random()
            status = "completed" if r < 0.85 else "failed" if r < 0.95 else "cancelled"
            exec_time = round(rnd.lognormvariate(0.5, 0.8), 4) if status != "cancelled" else None
            quality = round(rnd.uniform(0.5, 1.0), 4) if status == "completed" else None
            started = done - timedelta(seconds=exec_time or 0)
            copy.write_row(
                (
                    f"bench-{i}",
                    inst,
                    agent_type,
                    "bench",
                    status,
                    exec_time,
                    quality,
                    started - timedelta(seconds=1),
                    started,
                    done,
                    done,
                    1,
                    "w",
                )
            )
    conn.execute("ANALYZE agent_executions")
    conn.execute("ANALYZE agent_instances")


def _percentile(values: list[float], q: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return 0.0
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def naive_aggregate(store: SQLStore, start: datetime, minutes: int) -> int:
    """The per-row way: fetch the period's executions, loop in Python, one upsert per row."""
    end = start + timedelta(minutes=minutes)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT agent_instance_id, agent_type::text, status::text, execution_time_seconds, "
            "quality_score FROM agent_executions "
            "WHERE completed_at >= %(s)s AND completed_at < %(e)s "
            "AND status IN ('completed', 'failed', 'cancelled')",
            {"s": start, "e": end},
        ).fetchall()
    groups: dict[tuple[Any, str], dict[str, Any]] = defaultdict(
        lambda: {"status": defaultdict(int), "times": [], "quality": []}
    )
    for inst, agent_type, status, exec_time, quality in rows:
        for key in ((inst, agent_type), (None, agent_type)):
            g = groups[key]
            g["status"][status] += 1
            if exec_time is not None:
                g["times"].append(exec_time)
            if quality is not None:
                g["quality"].append(quality)
    for (inst, agent_type), g in groups.items():
        total = sum(g["status"].values())
        times = sorted(g["times"])
        store_agent_metrics(
            store,
            {
                "agent_instance_id": inst,
                "agent_type": agent_type,
                "period_start": start,
                "period_end": end,
                "period_duration_minutes": minutes,
                "tasks_completed": g["status"]["completed"],
                "tasks_failed": g["status"]["failed"],
                "tasks_cancelled": g["status"]["cancelled"],
                "total_tasks": total,
                "success_rate": 100.0 * g["status"]["completed"] / total,
                "error_rate": 100.0 * g["status"]["failed"] / total,
                "average_execution_time": sum(times) / len(times) if times else 0.0,
                "median_execution_time": _percentile(times, 0.5),
                "p95_execution_time": _percentile(times, 0.95),
                "tasks_per_minute": total / minutes,
                "tasks_per_hour": total * 60.0 / minutes,
                "average_quality_score": (
                    sum(g["quality"]) / len(g["quality"]) if g["quality"] else 0.0
                ),
            },
        )
    return len(groups)


def _snapshot(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT agent_instance_id, agent_type, period_start, total_tasks, tasks_completed, "
        "tasks_failed, tasks_cancelled, success_rate, error_rate, average_execution_time, "
        "median_execution_time, p95_execution_time, average_quality_score, tasks_per_minute "
        "FROM agent_metrics ORDER BY 1, 2, 3"
    ).fetchall()


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows, floats up to summation order."""

    def eq(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        return bool(x == y)

    return len(a) == len(b) and all(
        len(r) == len(s) and all(eq(x, y) for x, y in zip(r, s, strict=True))
        for r, s in zip(a, b, strict=True)
    )


def _explain(conn: psycopg.Connection[Any], now: datetime, minutes: int) -> str:
    sql = "EXPLAIN " + aggregate_sql()
    params = {"minutes": minutes, "now": now, "backfill": 1}
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")  # as aggregate_metrics runs it
        lines = conn.execute(sql, params).fetchall()
    return "\n".join(r[0] for r in lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executions", type=int, default=1_000_000)
    ap.add_argument("--periods", type=int, default=288, help="closed periods they span")
    ap.add_argument("--period-minutes", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="keep the data of the last run")
    args = ap.parse_args(argv)
    minutes = args.period_minutes
    plain, sa_url = _urls()
    MigrationService(sa_url).run_migrations()
    now = T0 + timedelta(minutes=minutes * args.periods, seconds=1)
    start = T0 + timedelta(minutes=minutes * (args.periods - 1))  # the last closed period

    with psycopg.connect(plain, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM agent_executions").fetchone()
        if not (args.reuse and have and have[0] == args.executions):
            t = time.perf_counter()
            _generate(conn, args.executions, args.periods, minutes)
            print(f"generated {args.executions:,} executions in {time.perf_counter() - t:.1f}s")
        in_period = conn.execute(
            "SELECT count(*) FROM agent_executions WHERE completed_at >= %s AND completed_at < %s",
            (start, start + timedelta(minutes=minutes)),
        ).fetchone()
        plan = _explain(conn, now, minutes)
        uses_index = "idx_agent_executions_completed_at" in plan
        print(
            f"table: {args.executions:,} executions over {args.periods} periods of {minutes} min;"
            f" the period {start:%Y-%m-%d %H:%M} holds {in_period[0] if in_period else 0:,}"
        )
        print(
            f"EXPLAIN: {'uses' if uses_index else 'does NOT use'} idx_agent_executions_completed_at"
        )
        if not uses_index:
            print(plan)

        store = SQLStore(sa_url, pool_size=2)
        set_times, naive_times = [], []
        snapshots = {}
        for _ in range(args.repeat):
            conn.execute("TRUNCATE agent_metrics")
            t = time.perf_counter()
            n_rows = aggregate_metrics(store, period_minutes=minutes, now=now, backfill_periods=1)
            set_times.append(time.perf_counter() - t)
            snapshots["set"] = _snapshot(conn)

            conn.execute("TRUNCATE agent_metrics")
            t = time.perf_counter()
            n_naive = naive_aggregate(store, start, minutes)
            naive_times.append(time.perf_counter() - t)
            snapshots["naive"] = _snapshot(conn)
        store.close()

    same = _same(snapshots["set"], snapshots["naive"])
    s, v = statistics.median(set_times), statistics.median(naive_times)
    print(f"rows written: set-based {n_rows}, naive {n_naive}; identical results: {same}")
    print(f"set-based SQL (one statement):  {s * 1000:9.1f} ms  (median of {args.repeat})")
    print(f"naive per-row Python:           {v * 1000:9.1f} ms  (median of {args.repeat})")
    print(f"ratio naive / set-based:        {v / s:9.1f}x")
    # With every execution in the period (--periods 1) a full scan is the right plan.
    verdict = "PASS" if s < TARGET_SECONDS and (uses_index or args.periods == 1) else "FAIL"
    print(
        f"target: one period < {TARGET_SECONDS:.0f} s"
        f" over {args.executions:,} executions: {verdict}"
    )
    return 0 if same and verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
