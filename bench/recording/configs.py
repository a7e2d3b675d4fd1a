"""The configurations ``bench_recording`` compares, its targets and one run's result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "last_run.json"
PG_ADMIN = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
BENCH_DB = os.environ.get("AGENTQ_BENCH_DB", "agentq_bench")  # two benchmarks at once: two names
BENCH_REDIS_DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "12"))
QUEUE = "content_generator"  # where agents.content_generator.noop is routed
TASK = "agents.content_generator.noop"

DATABASE_URL = PG_ADMIN.rsplit("/", 1)[0] + "/" + BENCH_DB
BROKER_URL = f"{REDIS_BASE}/{BENCH_REDIS_DB}"

# Targets (issue 21): recording against vanilla Celery, events off in both (b/v) and on in
# both (b/f: configuration e, which is b with task events, against f), paired in one run.
TARGETS = {
    "b/v tasks_per_s": 0.90,  # >=
    "b/v cpu_ms_per_task": 1.20,  # <=
    "b/f tasks_per_s": 0.90,  # >=
    "b/f cpu_ms_per_task": 1.20,  # <=
    "enqueue b/v": 1.10,  # producer CPU per publish, <=
    "lag_p99_s": 0.25,  # (b) transition -> recorded, p99, <
}
TARGET_OPS = {"tasks_per_s": ">=", "cpu_ms_per_task": "<=", "enqueue": "<=", "lag_p99_s": "<"}

# The headline ratios and the configurations each divides; "b/f" is e/f because
# recording against vanilla + events is only fair with events on in recording's run too.
PAIRS = {
    "b/v": ("b", "v"),
    "b/f": ("e", "f"),
    "a/v": ("a", "v"),  # our base (recording off) against vanilla: the broker layer
    "h/f": ("h", "f"),  # the same with events on in both
    "f/v": ("f", "v"),  # what task events cost vanilla Celery
    "b/a": ("b", "a"),  # recording against our own base
    "c/v": ("c", "v"),
    "b/c": ("b", "c"),
}
VANILLA_APP = "bench.vanilla_app"
TEST_TASKS = "tests.support.tasks"  # the worker's -I, where the product app's noop lives


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    app: str  # module holding the Celery app, for the worker and the producer
    env: dict[str, str]
    done: str  # what "the last task completed" means: broker | executions | taskmeta
    include: str | None = TEST_TASKS  # module defining the no-op task (None: the app's own)

    @property
    def vanilla(self) -> bool:
        return self.app == VANILLA_APP


REC = {"AGENTQ_RECORDING": "true"}
OFF = {"AGENTQ_RECORDING": "false"}
EVENTS = {"AGENTQ_TASK_EVENTS": "true"}
CONFIGS = {
    # The anchors: what Celery users run today (bench/vanilla_app.py, vanilla_config.py).
    "v": Config("v", "vanilla Celery", VANILLA_APP, {}, "broker", None),
    "f": Config(
        "f", "vanilla + task events", VANILLA_APP, {"BENCH_TASK_EVENTS": "true"}, "broker", None
    ),
    "a": Config("a", "our base, recording off", "workers.app", OFF, "broker"),
    "b": Config("b", "agentq recording", "workers.app", REC, "executions"),
    "c": Config("c", "Celery DB backend", "bench.dbbackend_app", OFF, "taskmeta"),
    # With AGENTQ_TASK_EVENTS=true: (b) for b/f, (a) for a/f (diagnostic).
    "e": Config("e", "recording + task events", "workers.app", {**REC, **EVENTS}, "executions"),
    "h": Config("h", "base + task events", "workers.app", {**OFF, **EVENTS}, "broker"),
    # Not in the default run, for comparison: (b) with every XADD confirmed before the
    # hook returns, and with none (AGENTQ_EVENTS_CONFIRM=each / deferred everywhere;
    # (b) is the default, auto: confirmed in the worker, not in the producer).
    "d": Config(
        "d",
        "agentq recording, no XADD confirmed",
        "workers.app",
        {**REC, "AGENTQ_EVENTS_CONFIRM": "deferred"},
        "executions",
    ),
    "s": Config(
        "s",
        "agentq recording, each XADD confirmed",
        "workers.app",
        {**REC, "AGENTQ_EVENTS_CONFIRM": "each"},
        "executions",
    ),
    # (b) with the hooks' XADDs written by redis-py's Connection instead of the
    # hand-written RESP writer (bench/redispy_app.py; bench/bench_resp.py times both).
    "r": Config("r", "(b), redis-py writer", "bench.redispy_app", REC, "executions"),
    # (b) as before issue 21's lever: the worker waits for the reply to running too.
    "w": Config("w", "(b), running confirmed", "bench.confirm_running_app", REC, "executions"),
    # (b) with the pool holding running and sending it with the task's end (issue 21's
    # lever, workers/recording/held_running.py): one stream entry per run instead of two.
    "k": Config(
        "k",
        "(b), running held 100 ms",
        "workers.app",
        {**REC, "AGENTQ_RUNNING_HOLD_MS": "100"},
        "executions",
    ),
    # (b) with OpenTelemetry traces on (workers/tracing/): OTLP over HTTP to a sink in the
    # bench process (bench/recording/otlp_sink.py); "{otlp}" is its endpoint.
    "t": Config(
        "t",
        "(b), tracing on (OTLP)",
        "workers.app",
        {
            **REC,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{otlp}",
        },
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
    # Wall time of one call (ms), after the run: producer.enqueue for our app,
    # apply_async for vanilla; p50, p99 (bench/producer.py --latency).
    enqueue_wall_p50_ms: float | None = None
    enqueue_wall_p99_ms: float | None = None
    task_events: dict[str, int] = field(default_factory=dict)  # Celery events seen, by type
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None
    lag_by_status_p99_s: dict[str, float] = field(default_factory=dict)
    recorder_batches: int | None = None  # (b): recorder transactions that wrote events
    checks: list[str] = field(default_factory=list)  # empty when the run verified clean
