"""Realtime latency: commit → event at a websocket subscriber, through the real bridge.

    .venv/bin/python -m bench.bench_realtime [--rate 200] [--seconds 30]

Builds the database ``agentq_bench_realtime`` (migrated to head), starts soketi on free
loopback ports, ``agentq realtime`` as its own process, and a websocket subscriber on
``agentq-executions``. Then it records lifecycle transitions through the recorder's own
path (``SQLStore.record``, one transaction per tick) at ``--rate`` transitions/s for
``--seconds``: every 20 ms a new task's pending+queued, an older task's running and an
older one's completed (4 transitions per task, like a real task). The latency of an
event is its arrival at the subscriber minus the end of the commit that wrote the state
it carries. Also: Pusher API calls (and events) per 100 transitions, from the bridge's
counters; and what the change feed costs the recording path (``bench/realtime_record_cost.py``:
without it, with revision 0003's triggers, with revision 0009 and realtime on and off;
``--trigger-only`` runs just that).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import realtime_record_cost as record_cost
from persistence.lifecycle import TaskStatus, Transition
from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tests.support.soketi import SoketiServer, Subscriber
from tests.support.workers import wait_for

DB_NAME = "agentq_bench_realtime"
TICK_S = 0.02
TARGET_P99_S = 0.25
RESULTS = Path(__file__).parent / "results" / "realtime_last_run.json"
COST_RESULTS = RESULTS.with_name("realtime_record_cost.json")  # --trigger-only


def _urls() -> tuple[str, str, str]:
    admin = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    plain = admin.rsplit("/", 1)[0] + "/" + DB_NAME
    return admin, plain, plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _prepare(admin: str, plain: str, sa_url: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    MigrationService(sa_url).run_migrations()
    with psycopg.connect(admin, autocommit=True) as conn:
        # Time spent in PL/pgSQL functions, triggers included (pg_stat_user_functions).
        conn.execute(f"ALTER DATABASE \"{DB_NAME}\" SET track_functions = 'pl'")


def _t(task: str, status: TaskStatus, worker: str | None = None) -> Transition:
    result = None
    if status is TaskStatus.COMPLETED:
        result = {"output_data": {"ok": True}, "quality_score": 1.0, "execution_time_seconds": 0.1}
    request = {"input_data": {"topic": "x"}} if status is TaskStatus.PENDING else None
    return Transition(
        event_id=uuid.uuid4(),
        task_id=task,
        status=status,
        attempt=0,
        occurred_at=datetime.now(UTC),
        agent_type="content_generator",
        task_type="lesson",
        worker=worker,
        request=request,
        result=result,
    )


def _tick(i: int, tasks: list[str], per_tick: int) -> list[Transition]:
    """The transitions of tick ``i``: new tasks' pending+queued, running of the tasks
    started 2 ticks ago, completed of those started 5 ticks ago (4 per task)."""
    out: list[Transition] = []
    for _ in range(per_tick):
        task = str(uuid.uuid4())
        tasks.append(task)
        out += [_t(task, TaskStatus.PENDING), _t(task, TaskStatus.QUEUED)]
    for back, status in ((2, TaskStatus.RUNNING), (5, TaskStatus.COMPLETED)):
        if i >= back:
            start = (i - back) * per_tick
            out += [_t(t, status, "w1") for t in tasks[start : start + per_tick]]
    return out


def _load(store: SQLStore, rate: float, seconds: float) -> tuple[dict[tuple[str, str], float], int]:
    """Record at ``rate`` transitions/s; (task, status) → commit time, and the count."""
    per_tick = max(1, round(rate * TICK_S / 4))
    tasks: list[str] = []
    committed: dict[tuple[str, str], float] = {}
    n = 0
    start = time.monotonic()
    ticks = int(seconds / TICK_S)
    for i in range(ticks + 5):  # 5 more: every started task completes
        batch = _tick(i, tasks, per_tick) if i < ticks else _finish(i, tasks, per_tick, ticks)
        if batch:
            store.record(batch)
            done = time.time()
            n += len(batch)
            for t in batch:
                committed[(t.task_id, t.status.value)] = done
        time.sleep(max(0.0, start + (i + 1) * TICK_S - time.monotonic()))
    return committed, n


def _finish(i: int, tasks: list[str], per_tick: int, ticks: int) -> list[Transition]:
    out: list[Transition] = []
    for back, status in ((2, TaskStatus.RUNNING), (5, TaskStatus.COMPLETED)):
        if ticks > i - back >= 0:
            start = (i - back) * per_tick
            out += [_t(t, status, "w1") for t in tasks[start : start + per_tick]]
    return out


def _bridge(soketi: SoketiServer, plain: str, log: Path) -> Any:
    import subprocess

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AGENTQ_", "PUSHER_"))},
        **soketi.env,
        "DATABASE_URL": plain,
        "PYTHONUNBUFFERED": "1",
    }
    fh = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "realtime", "--status-every", "0.5"],
        cwd=Path(__file__).parents[1],
        env=env,
        stdout=fh,
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: "realtime: listening" in log.read_text() or proc.poll() is not None, 30)
    if proc.poll() is not None:
        raise SystemExit(f"agentq realtime exited:\n{log.read_text()}")
    return proc


def _status(log: Path) -> dict[str, Any]:
    lines = [ln for ln in log.read_text().splitlines() if "realtime status {" in ln]
    return json.loads(lines[-1].split("realtime status ", 1)[1]) if lines else {}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_latency(rate: float, seconds: float, plain: str, sa_url: str) -> dict[str, Any]:
    soketi = SoketiServer().start()
    log = Path(soketi.dir) / "realtime.log"
    proc = _bridge(soketi, plain, log)
    store = SQLStore(sa_url, pool_size=2)
    try:
        with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub:
            before = _status(log)
            committed, n = _load(store, rate, seconds)
            wait_for(
                lambda: (
                    sum(e["data"]["status"] == "completed" for e in sub.received())
                    >= sum(1 for _, s in committed if s == "completed")
                ),
                30,
                what="the last completed events",
            )
            time.sleep(1.2)  # one more status line from the bridge
            after = _status(log)
            events = sub.received()
    finally:
        proc.terminate()
        proc.wait(20)
        soketi.stop()
        store.close()
    lat = [
        e["received_at"] - committed[key]
        for e in events
        if (key := (e["data"]["task_id"], e["data"]["status"])) in committed
    ]
    calls = after["batches"] - before.get("batches", 0)
    pushed = after["events"] - before.get("events", 0)
    return {
        "transitions": n,
        "rate_per_s": rate,
        "seconds": seconds,
        "events_received": len(events),
        "latency_p50_ms": round(1000 * _pct(lat, 0.50), 1),
        "latency_p99_ms": round(1000 * _pct(lat, 0.99), 1),
        "latency_max_ms": round(1000 * max(lat), 1),
        "api_calls": calls,
        "api_calls_per_100_transitions": round(100 * calls / n, 2),
        "events_per_100_transitions": round(100 * pushed / n, 2),
        "dropped": after["dropped"],
        "bridge_counters": after,
    }


def function_times(plain: str) -> dict[str, Any]:
    """Calls and total ms of the recorder's function and the realtime trigger functions
    during the latency run (the triggers run inside agentq_record_batch_within's statements)."""
    time.sleep(1.5)  # backends report their function statistics within a second
    with psycopg.connect(plain, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT funcname, calls, total_time FROM pg_stat_user_functions"
            " WHERE funcname LIKE 'agentq_re%%'"
        ).fetchall()
    out: dict[str, Any] = {
        name: {"calls": calls, "total_ms": round(t, 1)} for name, calls, t in rows
    }
    record = out.get("agentq_record_batch_within", {}).get("total_ms")
    trig = sum(v["total_ms"] for k, v in out.items() if k.startswith("agentq_realtime"))
    if record:
        out["trigger_share_of_record_batch"] = round(trig / record, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="transitions per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--trigger-repeat", type=int, default=7, help="runs of the record() costs")
    ap.add_argument("--trigger-batches", type=int, default=40, help="batches per design per run")
    ap.add_argument("--output", type=Path, help=f"default {RESULTS} ({COST_RESULTS.name})")
    ap.add_argument("--trigger-only", action="store_true", help="only the record() costs")
    args = ap.parse_args()

    args.output = args.output or (COST_RESULTS if args.trigger_only else RESULTS)
    admin, plain, sa_url = _urls()
    _prepare(admin, plain, sa_url)
    if args.trigger_only:
        cost = record_cost.measure(
            admin, plain, sa_url, _tick, args.trigger_repeat, args.trigger_batches
        )
        print(record_cost.summary(cost))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(cost, indent=2))
        print(f"results: {args.output}")
        return
    latency = measure_latency(args.rate, args.seconds, plain, sa_url)
    functions = function_times(plain)
    print(
        f"latency commit → subscriber at {args.rate:g} transitions/s for {args.seconds:g} s: "
        f"p50 {latency['latency_p50_ms']} ms, p99 {latency['latency_p99_ms']} ms, "
        f"max {latency['latency_max_ms']} ms ({latency['events_received']} events)"
    )
    print(
        f"Pusher API calls per 100 transitions: {latency['api_calls_per_100_transitions']} "
        f"(events per 100 transitions: {latency['events_per_100_transitions']}; "
        f"dropped {latency['dropped']})"
    )
    verdict = "PASS" if latency["latency_p99_ms"] < TARGET_P99_S * 1000 else "FAIL"
    print(f"target p99 < {TARGET_P99_S * 1000:.0f} ms: {verdict}")
    share = functions.get("trigger_share_of_record_batch")
    if share is not None:
        print(
            f"realtime trigger functions: {100 * share:.1f} % of agentq_record_batch_within's time "
            f"during that run ({functions})"
        )
    cost = record_cost.measure(
        admin, plain, sa_url, _tick, args.trigger_repeat, args.trigger_batches
    )
    print(record_cost.summary(cost))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": {"cpus": os.cpu_count()},
                "latency": latency,
                "target_p99_ms": TARGET_P99_S * 1000,
                "verdict": verdict,
                "trigger_functions": functions,
                "trigger_cost": cost,
            },
            indent=2,
            default=str,
        )
    )
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
