"""What lifecycle recording costs: no-op tasks through real prefork workers.

    .venv/bin/python -m bench.bench_recording --tasks 3000 --repeat 3

Three configurations run interleaved, in rotated order (a b c, b c a, c a b, ...), and
are reported as medians over the repetitions:

  (a) bare Celery: the product's app with AGENTQ_RECORDING=false;
  (b) our recording: default settings (hooks XADD to a Redis stream, the recorder
      embedded in the worker writes PostgreSQL);
  (c) Celery's own SQLAlchemy result backend with task_track_started=True
      (bench/dbbackend_app.py), recording off.

Each run starts a fresh ``celery -A <app> worker -P prefork -c 2`` subprocess, then
a producer subprocess (bench/producer.py) publishes N tasks as fast as it can.
Throughput is N / (first publish -> last completion as the system sees it): (a) the
broker holds no message, queued or unacknowledged (acks are late, so that is the
worker's last completion, measured without adding work to the worker); (b) the
N-th agent_executions row is 'completed'; (c) the N-th celery_taskmeta row is
SUCCESS. CPU is read from /proc (utime+stime) before and after for every process
involved: the worker tree, the producer, redis-server, and the PostgreSQL processes
serving the benchmark database (the machine's shared servers, hence deltas; the
benchmark's own polling connection is left out). See bench/README.md.

The benchmark uses its own database (agentq_bench, migrated here) and Redis DB 12,
both emptied before every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "last_run.json"
PG_ADMIN = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
BENCH_DB = "agentq_bench"
BENCH_REDIS_DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "12"))
QUEUE = "content_generator"  # where agents.content_generator.noop is routed
TASK = "agents.content_generator.noop"
CLK_TCK = os.sysconf("SC_CLK_TCK")

DATABASE_URL = PG_ADMIN.rsplit("/", 1)[0] + "/" + BENCH_DB
BROKER_URL = f"{REDIS_BASE}/{BENCH_REDIS_DB}"

# Targets (DESIGN.md: recording costs at most 10 % of bare Celery's throughput).
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


# --- /proc accounting ------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own CPU s, reaped children's CPU s) of ``pid``, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return ppid, own, reaped


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _proc_stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _tree_cpu(root: int) -> tuple[float, float, float]:
    """(main process, pool, recorder) CPU of a worker's process tree; the pool includes
    children the main process has reaped (a replaced pool child); the recorder is the
    embedded recorder's process (workers/recording/recorder_process.py), when there is one."""
    main = pool = recorder = 0.0
    for pid in _descendants(root):
        st = _proc_stat(pid)
        if st is None:
            continue
        if pid == root:
            main, pool = main + st[1], pool + st[2]
        elif _is_recorder(pid):
            recorder += st[1] + st[2]
        else:
            pool += st[1] + st[2]
    return main, pool, recorder


def _is_recorder(pid: int) -> bool:
    try:
        return b"workers.recording.recorder_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _pids_cpu(pids: Iterable[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        st = _proc_stat(pid)
        if st is not None:
            out[pid] = st[1]
    return out


def _machine_busy() -> dict[str, float]:
    """Busy CPU seconds of the whole machine (all cores) by kind, from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return {
        "user": (user + nice) / CLK_TCK,
        "system": system / CLK_TCK,
        # Interrupt time is charged to no process: on loopback that is the network stack.
        "irq+softirq": (irq + softirq) / CLK_TCK,
        "steal": steal / CLK_TCK,
    }


@dataclass
class CpuSnapshot:
    worker: tuple[float, float, float]
    producer: dict[int, float]
    redis: dict[int, float]
    postgres: dict[int, float]
    machine: dict[str, float]
    me: float


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A process that appeared in between counts whole; one that exited is lost (rare:
    # pooled connections live through a run).
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


# --- the benchmark -----------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(tempfile.mkdtemp(prefix="agentq-bench-"))
        self.env = self._base_env()
        self.redis = redis.Redis.from_url(BROKER_URL)
        self.redis_pid = self._redis_pid()
        self.db: psycopg.Connection[Any] | None = None
        self.control_app: Any = None

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AGENTQ_", "SUPABASE_", "PUSHER_"))
        }
        env.update(
            DATABASE_URL=DATABASE_URL,
            CELERY_BROKER_URL=BROKER_URL,
            AGENTQ_DATA_DIR=str(self.data_dir),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _redis_pid(self) -> int | None:
        pid = int(self.redis.info("server").get("process_id", 0))
        return pid if _proc_stat(pid) is not None else None  # a remote server: not counted

    # --- setup ---------------------------------------------------------------------
    def setup(self) -> None:
        # This process only reads and controls; it must never record anything itself.
        os.environ.update(self.env, AGENTQ_RECORDING="false")
        from celery.backends.database.models import ResultModelBase
        from sqlalchemy import create_engine

        from persistence.migration_service import MigrationService
        from workers.settings import to_sqlalchemy_url

        sa_url = to_sqlalchemy_url(DATABASE_URL)
        MigrationService(sa_url).run_migrations()
        # Celery's result tables up front, so that no run of (c) pays for CREATE TABLE.
        engine = create_engine(sa_url)
        ResultModelBase.metadata.create_all(engine)
        engine.dispose()
        self.db = psycopg.connect(DATABASE_URL, autocommit=True)
        from workers.app import app

        self.control_app = app

    def reset(self) -> None:
        assert self.db is not None
        self.redis.flushdb()
        self.db.execute(
            "TRUNCATE agent_execution_events, agent_executions, agent_instances, "
            "celery_taskmeta, celery_tasksetmeta CASCADE"
        )
        # Flush dirty pages now rather than in the middle of a measured run.
        self.db.execute("CHECKPOINT")

    # --- processes -----------------------------------------------------------------
    def start_worker(self, cfg: Config, name: str) -> tuple[subprocess.Popen[bytes], str, Path]:
        hostname = f"{name}@bench"
        log = self.data_dir / f"worker-{name}.log"
        cmd = [
            sys.executable, "-m", "celery", "-A", cfg.app, "worker",
            "-P", "prefork", "-c", str(self.args.concurrency),
            "-n", hostname, "-I", "tests.support.tasks", "-l", "warning",
            # Mingle and gossip only talk to other workers; there are none here.
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**self.env, **cfg.env},
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
            # -l warning hides " ready.": a ping answers once the consumer runs.
            if self.control_app.control.ping(destination=[hostname], timeout=0.5):
                return proc, hostname, log
        proc.kill()
        raise RuntimeError(f"worker {hostname} not ready after 60 s; log: {log}")

    @staticmethod
    def stop_worker(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def start_producer(self, cfg: Config, n: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.producer", "--app", cfg.app, "--tasks", str(n)],
            cwd=ROOT,
            env={**self.env, **cfg.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise RuntimeError(f"producer exited with {proc.returncode}")
        return proc, json.loads(line)

    # --- measuring -----------------------------------------------------------------
    def _pg_pids(self) -> list[int]:
        """Background processes, the postmaster, and backends of the bench database
        except this process's own (its polling is not the system's cost)."""
        assert self.db is not None
        rows = self.db.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s OR datname IS NULL) "
            "AND pid <> pg_backend_pid()",
            (BENCH_DB,),
        ).fetchall()
        pids = [int(r[0]) for r in rows]
        postmaster = {st[0] for st in map(_proc_stat, pids) if st is not None}
        return [p for p in pids + sorted(postmaster) if _proc_stat(p) is not None]

    def snapshot(self, worker: int, producer: int) -> CpuSnapshot:
        return CpuSnapshot(
            worker=_tree_cpu(worker),
            producer=_pids_cpu([producer]),
            redis=_pids_cpu([self.redis_pid] if self.redis_pid else []),
            postgres=_pids_cpu(self._pg_pids()),
            machine=_machine_busy(),
            me=time.process_time(),
        )

    def broker_pending(self) -> int:
        """Messages queued (every priority sub-queue) or delivered but not yet acked."""
        pipe = self.redis.pipeline(transaction=False)
        for step in range(10):
            pipe.llen(QUEUE if step == 0 else f"{QUEUE}:{step}")
        pipe.hlen("unacked")
        return sum(pipe.execute())

    def wait_done(self, cfg: Config, n: int) -> tuple[float, float]:
        """Poll until the run is complete; (time broker emptied, time completion seen)."""
        assert self.db is not None
        query = DONE_QUERIES.get(cfg.done)
        t_drained = t_db = None
        deadline = time.monotonic() + 120 + n / 10
        while time.monotonic() < deadline:
            now = time.time()
            if t_drained is None and self.broker_pending() == 0:
                t_drained = now
            # The database only once the broker is empty: a count every 20 ms during the
            # run would load (b) and (c) with work (a) does not get (the observer's own).
            if (
                query
                and t_drained is not None
                and t_db is None
                and self.db.execute(query).fetchone()[0] >= n  # type: ignore[index]
            ):
                t_db = now
            if t_drained is not None and (query is None or t_db is not None):
                return t_drained, t_db or t_drained
            time.sleep(self.args.poll)
        raise RuntimeError(f"({cfg.key}) run did not complete: broker={self.broker_pending()}")

    def run(self, cfg: Config, n: int, rep: int) -> RunResult:
        self.reset()
        worker, hostname, log = self.start_worker(cfg, f"bench-{cfg.key}{rep}")
        producer = None
        try:
            producer, info = self.start_producer(cfg, n)
            time.sleep(self.args.settle)  # let the worker's start-up work finish
            before = self.snapshot(worker.pid, producer.pid)
            assert producer.stdin is not None and producer.stdout is not None
            producer.stdin.write("go\n")
            producer.stdin.flush()
            pub = json.loads(producer.stdout.readline())
            t_drained, t_done = self.wait_done(cfg, n)
            after = self.snapshot(worker.pid, producer.pid)
            result = self._result(cfg, n, rep, pub, t_drained, t_done, before, after)
            result.checks = self._verify(cfg, n, hostname, info)
            if cfg.done == "executions":
                self._lags(result)
            return result
        except Exception:
            print(f"worker log: {log}", file=sys.stderr)
            raise
        finally:
            if producer is not None:
                producer.communicate(timeout=30)  # closes stdin: the producer exits
            self.stop_worker(worker)

    @staticmethod
    def _result(
        cfg: Config,
        n: int,
        rep: int,
        pub: dict[str, Any],
        t_drained: float,
        t_done: float,
        before: CpuSnapshot,
        after: CpuSnapshot,
    ) -> RunResult:
        by_process = {
            "worker_main": after.worker[0] - before.worker[0],
            "worker_pool": after.worker[1] - before.worker[1],
            "recorder": after.worker[2] - before.worker[2],
            "producer": _delta(before.producer, after.producer),
            "redis": _delta(before.redis, after.redis),
            "postgres": _delta(before.postgres, after.postgres),
        }
        total = sum(by_process.values())
        machine = {k: after.machine[k] - before.machine[k] for k in after.machine}
        other = sum(machine.values()) - total - (after.me - before.me)
        seconds = t_done - pub["t_first"]
        return RunResult(
            config=cfg.key,
            rep=rep,
            tasks=n,
            seconds=round(seconds, 4),
            tasks_per_s=round(n / seconds, 1),
            worker_tasks_per_s=round(n / (t_drained - pub["t_first"]), 1),
            publish_per_s=round(n / (pub["t_last"] - pub["t_first"]), 1),
            enqueue_cpu_ms=round(pub["cpu_s"] * 1000 / n, 4),
            cpu_ms_per_task=round(total * 1000 / n, 3),
            cpu_ms_by_process={k: round(v * 1000 / n, 3) for k, v in by_process.items()},
            other_machine_cpu_ms=round(other * 1000 / n, 3),
            machine_cpu_ms={k: round(v * 1000 / n, 3) for k, v in machine.items()},
        )

    def _verify(self, cfg: Config, n: int, hostname: str, info: dict[str, Any]) -> list[str]:
        """What does not look like N clean executions of the configuration asked for."""
        assert self.db is not None
        problems = []
        stats = self.control_app.control.inspect(destination=[hostname], timeout=3).stats() or {}
        done = (stats.get(hostname) or {}).get("total", {}).get(TASK)
        if done != n:
            problems.append(f"worker stats total {done} != {n}")
        if cfg.key == "c" and not (info["backend"] == "DatabaseBackend" and info["track_started"]):
            problems.append(f"producer app is not configured for (c): {info}")
        if cfg.done == "executions":
            events = self.db.execute("SELECT count(*) FROM agent_execution_events").fetchone()
            if events is None or events[0] != 4 * n:
                problems.append(f"{events} history events, expected {4 * n}")
        elif self.db.execute("SELECT count(*) FROM agent_executions").fetchone() != (0,):
            problems.append("recording was supposed to be off but wrote executions")
        return problems

    def _lags(self, result: RunResult) -> None:
        # recorded_at is now() of the recorder's transaction, i.e. its start; the commit
        # follows within the same batch (milliseconds).
        assert self.db is not None
        rows = self.db.execute(
            "SELECT status::text,"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)"
            " FROM (SELECT status, extract(epoch FROM recorded_at - occurred_at) AS lag"
            "       FROM agent_execution_events) e"
            " GROUP BY ROLLUP (status)"
        ).fetchall()
        for status, p50, p99 in rows:
            if status is None:
                result.lag_p50_s, result.lag_p99_s = round(p50, 4), round(p99, 4)
            else:
                result.lag_by_status_p99_s[status] = round(p99, 4)
        # One recorder transaction = one now(): distinct recorded_at counts the batches.
        batches = self.db.execute(
            "SELECT count(DISTINCT recorded_at) FROM agent_execution_events"
        ).fetchone()
        result.recorder_batches = int(batches[0]) if batches else None

    def close(self, keep_logs: bool = False) -> None:
        if self.db is not None:
            self.db.close()
        self.redis.close()
        if keep_logs:
            print(f"worker logs kept in {self.data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --- reporting ---------------------------------------------------------------------------
def _median(runs: list[RunResult], get: Callable[[RunResult], float | None]) -> float | None:
    values = [v for v in map(get, runs) if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[RunResult]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in CONFIGS:
        mine = [r for r in runs if r.config == key]
        if not mine:
            continue
        out[key] = {
            "runs": len(mine),
            "tasks_per_s": _median(mine, lambda r: r.tasks_per_s),
            "worker_tasks_per_s": _median(mine, lambda r: r.worker_tasks_per_s),
            "publish_per_s": _median(mine, lambda r: r.publish_per_s),
            "enqueue_cpu_ms": _median(mine, lambda r: r.enqueue_cpu_ms),
            "cpu_ms_per_task": _median(mine, lambda r: r.cpu_ms_per_task),
            "cpu_ms_by_process": {
                p: _median(mine, lambda r, p=p: r.cpu_ms_by_process[p])  # type: ignore[misc]
                for p in mine[0].cpu_ms_by_process
            },
            "other_machine_cpu_ms": _median(mine, lambda r: r.other_machine_cpu_ms),
            "machine_cpu_ms": {
                k: _median(mine, lambda r, k=k: r.machine_cpu_ms[k])  # type: ignore[misc]
                for k in mine[0].machine_cpu_ms
            },
            "lag_p50_s": _median(mine, lambda r: r.lag_p50_s),
            "lag_p99_s": _median(mine, lambda r: r.lag_p99_s),
        }
    return out


def _ratio(x: float | None, y: float | None) -> float | None:
    return None if x is None or not y else round(x / y, 3)


def evaluate(med: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    a, b, c = med.get("a", {}), med.get("b", {}), med.get("c", {})
    ratios = {
        "b/a tasks_per_s": _ratio(b.get("tasks_per_s"), a.get("tasks_per_s")),
        "b/a cpu_ms_per_task": _ratio(b.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")),
        "c/a tasks_per_s": _ratio(c.get("tasks_per_s"), a.get("tasks_per_s")),
        "c/a cpu_ms_per_task": _ratio(c.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")),
        "b/c tasks_per_s": _ratio(b.get("tasks_per_s"), c.get("tasks_per_s")),
        "enqueue b/a": _ratio(b.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms")),
        "enqueue c/a": _ratio(c.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms")),
    }
    for key in ("d", "s"):  # the optional variants, for comparison
        if key in med:
            v = med[key]
            ratios[f"{key}/a tasks_per_s"] = _ratio(v.get("tasks_per_s"), a.get("tasks_per_s"))
            ratios[f"{key}/a cpu_ms_per_task"] = _ratio(
                v.get("cpu_ms_per_task"), a.get("cpu_ms_per_task")
            )
            ratios[f"enqueue {key}/a"] = _ratio(v.get("enqueue_cpu_ms"), a.get("enqueue_cpu_ms"))
    checks = [
        ("(b) tasks/s >= 0.90 x (a)", ratios["b/a tasks_per_s"], "b_tps_vs_a", ">="),
        ("(b) CPU ms/task <= 1.15 x (a)", ratios["b/a cpu_ms_per_task"], "b_cpu_vs_a", "<="),
        ("(b) tasks/s >= 3 x (c)", ratios["b/c tasks_per_s"], "b_tps_vs_c", ">="),
        ("enqueue CPU (b) <= 1.25 x (a)", ratios["enqueue b/a"], "enqueue_b_vs_a", "<="),
        ("(b) recording lag p99 < 0.5 s", b.get("lag_p99_s"), "lag_p99_s", "<"),
    ]
    targets = []
    for name, value, target, op in checks:
        limit = TARGETS[target]
        ok = None
        if value is not None:
            ok = value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit
        verdict = "n/a" if ok is None else "PASS" if ok else "FAIL"
        targets.append({"target": name, "value": value, "limit": limit, "result": verdict})
    return ratios, targets


def paired_ratios(runs: list[RunResult]) -> dict[str, float | None]:
    """Medians of the ratios within each repetition (a, b, c run back to back).

    The machine's speed drifts between repetitions (bare Celery alone has ranged
    232-378 tasks/s in one run here); a ratio taken inside one repetition cancels most
    of that drift, so these are steadier than the ratios of the medians. The targets
    are still judged on the medians, as the issue states them.
    """
    by_rep: dict[int, dict[str, RunResult]] = {}
    for r in runs:
        by_rep.setdefault(r.rep, {})[r.config] = r
    pairs: dict[str, list[float]] = {}
    for rep in by_rep.values():
        a, b, c = rep.get("a"), rep.get("b"), rep.get("c")
        if a and b:
            pairs.setdefault("b/a tasks_per_s", []).append(b.tasks_per_s / a.tasks_per_s)
            pairs.setdefault("b/a cpu_ms_per_task", []).append(
                b.cpu_ms_per_task / a.cpu_ms_per_task
            )
            pairs.setdefault("enqueue b/a", []).append(b.enqueue_cpu_ms / a.enqueue_cpu_ms)
        if b and c:
            pairs.setdefault("b/c tasks_per_s", []).append(b.tasks_per_s / c.tasks_per_s)
        for key in ("d", "s"):
            v = rep.get(key)
            if a and v:
                pairs.setdefault(f"{key}/a tasks_per_s", []).append(v.tasks_per_s / a.tasks_per_s)
                pairs.setdefault(f"{key}/a cpu_ms_per_task", []).append(
                    v.cpu_ms_per_task / a.cpu_ms_per_task
                )
    return {k: round(statistics.median(v), 3) for k, v in pairs.items()}


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_report(
    runs: list[RunResult],
    med: dict[str, dict[str, Any]],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
) -> None:
    procs = ["worker_main", "worker_pool", "recorder", "producer", "redis", "postgres"]
    head = (
        f"{'config':<24}{'tasks/s':>8}{'worker/s':>9}{'CPU ms/task':>12}"
        + "".join(f"{h:>7}" for h in ("main", "pool", "rec", "prod", "redis", "pg", "other"))
        + f"{'enq ms':>8}{'lag p50':>8}{'lag p99':>8}"
    )
    reps = max((m["runs"] for m in med.values()), default=0)
    print(
        f"\nmedians over {reps} runs. CPU ms/task: worker main process, pool children,"
        " recorder process, producer, redis-server, PostgreSQL, and busy machine CPU"
        " charged to no process"
    )
    print(head)
    print("-" * len(head))
    for key, m in med.items():
        p = m["cpu_ms_by_process"]
        print(
            f"({key}) {CONFIGS[key].label[:20]:<20}{_fmt(m['tasks_per_s'], '.1f'):>8}"
            f"{_fmt(m['worker_tasks_per_s'], '.1f'):>9}{_fmt(m['cpu_ms_per_task'], '.3f'):>12}"
            + "".join(f"{_fmt(p.get(k), '.2f'):>7}" for k in procs)
            + f"{_fmt(m['other_machine_cpu_ms'], '.2f'):>7}{_fmt(m['enqueue_cpu_ms'], '.3f'):>8}"
            f"{_fmt(m['lag_p50_s'], '.3f'):>8}{_fmt(m['lag_p99_s'], '.3f'):>8}"
        )
    print("\nratios: " + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in ratios.items()))
    paired = paired_ratios(runs)
    if paired:
        print(
            "paired (median of the ratios within each repetition): "
            + ", ".join(f"{k} {_fmt(v, '.3f')}" for k, v in paired.items())
        )
    print("\ntargets:")
    for t in targets:
        value = _fmt(t["value"], ".3f")
        print(f"  {t['result']:<5}{t['target']:<34}{value:>8}  (limit {t['limit']})")
    for r in runs:
        if r.checks:
            print(f"  WARNING run ({r.config}) #{r.rep}: " + "; ".join(r.checks))


def _print_run(r: RunResult) -> None:
    lag = ""
    if r.lag_p99_s is not None:
        lag = f"  lag p50/p99 {r.lag_p50_s:.3f}/{r.lag_p99_s:.3f} s, {r.recorder_batches} batches"
    print(
        f"  ({r.config}) rep {r.rep}: {r.tasks_per_s:7.1f} tasks/s"
        f" (worker {r.worker_tasks_per_s:.1f}),"
        f" {r.cpu_ms_per_task:.3f} CPU ms/task {r.cpu_ms_by_process},"
        f" enqueue {r.enqueue_cpu_ms:.3f} ms, publish {r.publish_per_s:.0f}/s{lag}"
        + (f"  CHECK: {'; '.join(r.checks)}" if r.checks else ""),
        flush=True,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=3000, help="tasks per run (default 3000)")
    p.add_argument(
        "--c-tasks",
        type=int,
        default=None,
        help="tasks per run of (c) (default: --tasks)",
    )
    p.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    p.add_argument("--configs", default="abc", help="which configurations to run (default abc)")
    p.add_argument("--warmup", type=int, default=200, help="tasks of an unreported first run")
    p.add_argument("--concurrency", type=int, default=2, help="prefork pool size (default 2)")
    p.add_argument("--settle", type=float, default=1.0, help="seconds between ready and go")
    p.add_argument("--poll", type=float, default=0.02, help="completion poll interval (s)")
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = [k for k in args.configs if k in CONFIGS]
    c_tasks = args.c_tasks or args.tasks
    bench = Bench(args)
    runs: list[RunResult] = []
    started = datetime.now(UTC)
    failed = True
    try:
        bench.setup()
        print(f"{args.tasks} tasks per run ((c): {c_tasks}), {args.repeat} x {keys}", flush=True)
        if args.warmup:
            for key in keys:  # page cache, bytecode, PostgreSQL plans: not measured
                bench.run(CONFIGS[key], args.warmup, 0)
            print("  warm-up done", flush=True)
        for rep in range(1, args.repeat + 1):
            # Rotated order (a b c, b c a, c a b, ...): a configuration's position in the
            # repetition (who ran just before it) shifts its numbers by several percent
            # here; rotating spreads that over all of them.
            shift = (rep - 1) % len(keys)
            for key in keys[shift:] + keys[:shift]:
                result = bench.run(CONFIGS[key], c_tasks if key == "c" else args.tasks, rep)
                _print_run(result)
                runs.append(result)
        failed = False
    finally:
        bench.close(keep_logs=failed)
    med = summarize(runs)
    ratios, targets = evaluate(med)
    print_report(runs, med, ratios, targets)
    write_json(args, c_tasks, started, runs, med, ratios, targets)
    return 0


def write_json(
    args: argparse.Namespace,
    c_tasks: int,
    started: datetime,
    runs: list[RunResult],
    med: dict[str, Any],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
) -> None:
    import celery
    import kombu

    doc = {
        "command": "python -m bench.bench_recording " + " ".join(sys.argv[1:]),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "settings": {
            "tasks": args.tasks,
            "c_tasks": c_tasks,
            "repeat": args.repeat,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "poll_s": args.poll,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "celery": celery.__version__,
            "kombu": kombu.__version__,
            "platform": platform.platform(),
        },
        "configs": {k: asdict(v) for k, v in CONFIGS.items()},
        "medians": med,
        "ratios": ratios,
        "paired_ratios": paired_ratios(runs),
        "targets": targets,
        "runs": [asdict(r) for r in runs],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults: {args.output}")


if __name__ == "__main__":
    sys.exit(main())
