"""The configurations ``bench_recording`` compares, its targets and one run's result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "last_run.json"
PG_ADMIN = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
BENCH_DB = os.environ.get("AGENTQ_BENCH_DB", "agentq_bench")  # per checkout: revisions differ
BENCH_REDIS_DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "12"))
QUEUE = "content_generator"  # where agents.content_generator.noop is routed
TASK = "agents.content_generator.noop"

DATABASE_URL = PG_ADMIN.rsplit("/", 1)[0] + "/" + BENCH_DB
BROKER_URL = f"{REDIS_BASE}/{BENCH_REDIS_DB}"

# Targets: recording costs at most 10 % of bare Celery's throughput (docs/benchmarks.md).
TARGETS = {
    "b_tps_vs_a": 0.90,  # (b) tasks/s >= 0.90 x (a)
    "b_cpu_vs_a": 1.15,  # (b) CPU ms/task <= 1.15 x (a)
    "b_tps_vs_c": 3.0,  # (b) tasks/s >= 3 x (c)
    "enqueue_b_vs_a": 1.25,  # producer CPU per apply_async, recording on <= 1.25 x off
    "lag_p99_s": 0.5,  # (b) transition -> recorded, p99
}


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    app: str  # module holding the Celery app, for the worker and the producer
    env: dict[str, str]
    done: str  # what "the last task completed" means: broker | executions | taskmeta


CONFIGS = {
    "a": Config("a", "bare Celery", "workers.app", {"AGENTQ_RECORDING": "false"}, "broker"),
    "b": Config("b", "agentq recording", "workers.app", {"AGENTQ_RECORDING": "true"}, "executions"),
    "c": Config(
        "c", "Celery DB backend", "bench.dbbackend_app", {"AGENTQ_RECORDING": "false"}, "taskmeta"
    ),
    # Not in the default run, for comparison: (b) with every XADD confirmed before the
    # hook returns, and with none (AGENTQ_EVENTS_CONFIRM=each / deferred everywhere;
    # (b) is the default, auto: confirmed in the worker, not in the producer).
    "d": Config(
        "d",
        "agentq recording, no XADD confirmed",
        "workers.app",
        {"AGENTQ_RECORDING": "true", "AGENTQ_EVENTS_CONFIRM": "deferred"},
        "executions",
    ),
    "s": Config(
        "s",
        "agentq recording, each XADD confirmed",
        "workers.app",
        {"AGENTQ_RECORDING": "true", "AGENTQ_EVENTS_CONFIRM": "each"},
        "executions",
    ),
    # (b) with the hooks' XADDs written by redis-py's Connection instead of the
    # hand-written RESP writer (bench/redispy_app.py; bench/bench_resp.py times both).
    "r": Config(
        "r",
        "(b), redis-py writer",
        "bench.redispy_app",
        {"AGENTQ_RECORDING": "true"},
        "executions",
    ),
}
DONE_QUERIES = {
    "executions": "SELECT count(*) FROM agent_executions WHERE status = 'completed'",
    "taskmeta": "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'",
}


@dataclass
class RunResult:
    config: str
    rep: int
    tasks: int
    seconds: float  # first publish -> last completion seen
    tasks_per_s: float
    worker_tasks_per_s: float  # first publish -> broker empty (worker done)
    publish_per_s: float
    enqueue_cpu_ms: float  # producer CPU per apply_async (process_time of the loop)
    cpu_ms_per_task: float  # all processes involved
    cpu_ms_by_process: dict[str, float]  # per task
    other_machine_cpu_ms: float  # per task: busy CPU no process above was charged
    machine_cpu_ms: dict[str, float]  # per task: the whole machine's busy CPU by kind
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None
    lag_by_status_p99_s: dict[str, float] = field(default_factory=dict)
    recorder_batches: int | None = None  # (b): recorder transactions that wrote events
    checks: list[str] = field(default_factory=list)  # empty when the run verified clean
