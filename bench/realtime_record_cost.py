"""What the realtime change feed costs the recorder: ``record()`` of a 200-transition batch
(50 new tasks' pending+queued, 50 running, 50 completed) in four designs, side by side.

==========  ========================================================================
baseline    no change-feed triggers on the recorder's tables, no notification at all
before      revision 0003's triggers and 0007's function: the triggers announce all
now         revision 0009, realtime on: the function notifies, the triggers skip it
off         revision 0009, ``SUPABASE_ENABLE_REALTIME=false`` (``agentq.realtime=off``)
==========  ========================================================================

Each design has a database of its own (the same amount of data in each) and a store
with one connection. The designs take turns batch by batch, in
rotating order, so that whatever else the machine does falls on all of them alike.
Per design and run: the database backend's CPU per batch (``/proc/<pid>/schedstat``,
nanoseconds on CPU; waiting for a core is not counted) and the median wall time of a
batch; medians over the runs, ratios against the baseline of the same run. Also the time
PostgreSQL counted in revision 0003's trigger function under ``before``
(``pg_stat_user_functions``): what the recorder-side notification replaces.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from persistence.migration_service import MigrationService
from persistence.sql import read_sql
from persistence.sql_store import SQLStore

MODES = ("baseline", "before", "now", "off")
OFF_OPTION = "options=-c%20agentq.realtime%3Doff"
_RECORDER_TRIGGERS = (
    ("agent_executions", "agentq_realtime_executions_insert"),
    ("agent_executions", "agentq_realtime_executions_update"),
    ("agent_instances", "agentq_realtime_instances_insert"),
    ("agent_instances", "agentq_realtime_instances_update"),
)
_TABLES = "agent_execution_events, agent_executions, agent_instances"


def _design(plain: str, mode: str) -> None:
    with psycopg.connect(plain, autocommit=True) as conn:
        if mode == "before":
            conn.execute(read_sql("0003_realtime.sql"))
            conn.execute(read_sql("0007_record_batch_speed.sql"))
        elif mode == "baseline":
            for table, trigger in _RECORDER_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")


def _database(admin: str, name: str) -> tuple[str, str]:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'")
    plain = admin.rsplit("/", 1)[0] + "/" + name
    sa_url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
    MigrationService(sa_url).run_migrations()
    return plain, sa_url


def _cpu_ns(store: SQLStore) -> tuple[int, int]:
    with store.engine.connect() as conn:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    return pid, int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _trigger_function_ms(plain: str) -> float:
    time.sleep(1.5)  # backends report function statistics when idle for a second
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute(
            "SELECT total_time FROM pg_stat_user_functions"
            " WHERE funcname = 'agentq_realtime_notify'"
        ).fetchone()
    return float(row[0]) if row else 0.0


def measure(
    admin: str,
    main_plain: str,
    main_sa: str,
    tick: Callable[..., list[Any]],
    repeat: int,
    batches: int,
) -> dict[str, Any]:
    """``main_*``: the bench's database at head (``now``; the others get their own);
    ``tick(i, tasks,
    per_tick)``: the batch of tick ``i`` (``bench_realtime._tick``)."""
    name = main_plain.rsplit("/", 1)[1]
    urls = {"now": (main_plain, main_sa)}
    for mode in ("before", "baseline", "off"):
        urls[mode] = _database(admin, f"{name}_{mode}")
        _design(urls[mode][0], mode)
    with psycopg.connect(urls["before"][0], autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")
    off = {"baseline", "off"}
    stores = {
        m: SQLStore(urls[m][1] + ("?" + OFF_OPTION if m in off else ""), pool_size=1) for m in MODES
    }
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    wall: dict[str, list[float]] = {m: [] for m in MODES}
    try:
        for _ in range(repeat):
            for plain in {u[0] for u in urls.values()}:
                with psycopg.connect(plain, autocommit=True) as conn:
                    conn.execute(f"TRUNCATE {_TABLES} CASCADE")
            tasks: dict[str, list[str]] = {m: [] for m in MODES}
            start: dict[str, tuple[int, int]] = {}
            times: dict[str, list[float]] = {m: [] for m in MODES}
            for i in range(batches + 5):  # the first five ticks are not full batches yet
                for mode in MODES[i % 4 :] + MODES[: i % 4]:
                    batch = tick(i, tasks[mode], 50)
                    if i == 5:
                        start[mode] = _cpu_ns(stores[mode])
                    t0 = time.perf_counter()
                    stores[mode].record(batch)
                    if i >= 5:
                        times[mode].append(time.perf_counter() - t0)
            for mode in MODES:
                pid, end = _cpu_ns(stores[mode])
                if pid == start[mode][0]:  # one connection throughout
                    cpu[mode].append((end - start[mode][1]) / 1000 / batches)
                wall[mode].append(statistics.median(times[mode]) * 1000)
    finally:
        for store in stores.values():
            store.close()
    trigger_ms = _trigger_function_ms(urls["before"][0])
    with psycopg.connect(admin, autocommit=True) as conn:
        for mode in ("before", "baseline", "off"):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_{mode}" WITH (FORCE)')
    us = {m: statistics.median(v) for m, v in cpu.items() if v}
    ms = {m: statistics.median(v) for m, v in wall.items()}
    return {
        "batch_transitions": 200,
        "runs": repeat,
        "batches_per_run": batches,
        "backend_cpu_us": {m: round(v) for m, v in us.items()},
        "cpu_ratio_to_baseline": {m: round(v / us["baseline"], 3) for m, v in us.items()},
        "record_ms": {m: round(v, 3) for m, v in ms.items()},
        "ratio_to_baseline": {m: round(v / ms["baseline"], 3) for m, v in ms.items()},
        # Under "before" only (its instances INSERT trigger adds one call per run).
        "before_trigger_function_us_per_batch": round(1000 * trigger_ms / (repeat * (batches + 5))),
        "runs_cpu_us": {m: [round(v) for v in vs] for m, vs in cpu.items()},
        "runs_ms": {m: [round(v, 3) for v in vs] for m, vs in wall.items()},
    }


def summary(cost: dict[str, Any]) -> str:
    cpu = ", ".join(
        f"{m} {cost['backend_cpu_us'][m]} µs ({cost['cpu_ratio_to_baseline'][m]}x)" for m in MODES
    )
    wall = ", ".join(
        f"{m} {cost['record_ms'][m]} ms ({cost['ratio_to_baseline'][m]}x)" for m in MODES
    )
    return (
        f"record() of a 200-transition batch, database backend CPU (x baseline): {cpu}\n"
        f"  wall, median batch (x baseline): {wall}\n"
        f"  revision 0003's trigger function under 'before': "
        f"{cost['before_trigger_function_us_per_batch']} µs per batch"
    )
