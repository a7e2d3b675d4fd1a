"""The runs: a fresh worker subprocess and a producer subprocess per run, CPU and
completion measured around them, the result verified (see bench/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.recording.configs import (
    BENCH_DB,
    BROKER_URL,
    DATABASE_URL,
    DONE_QUERIES,
    QUEUE,
    ROOT,
    TASK,
    Config,
    RunResult,
)
from bench.recording.otlp_sink import OtlpSink
from bench.recording.procstat import (
    CpuSnapshot,
    delta,
    machine_busy,
    pids_cpu,
    proc_stat,
    tree_cpu,
)
from bench.recording.watch import (
    EventCounter,
    agentq_imports,
    kombu_connection,
    task_event_count,
)

# Tasks of the latency calls after each run (bench/producer.py --latency): enqueue
# against apply_async; not part of the run's numbers.
LATENCY_CALLS = 500


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(tempfile.mkdtemp(prefix="agentq-bench-"))
        self.env = self._base_env()
        self.redis = redis.Redis.from_url(BROKER_URL)
        self.redis_pid = self._redis_pid()
        self.db: psycopg.Connection[Any] | None = None
        self.control_apps: dict[bool, Any] = {}  # vanilla?: (app, connection) to control with
        self.otlp = OtlpSink() if "t" in args.configs else None

    def env_of(self, cfg: Config) -> dict[str, str]:
        """The environment of a configuration's processes ("{otlp}": the span sink)."""
        endpoint = self.otlp.endpoint if self.otlp is not None else ""
        return {**self.env, **{k: v.replace("{otlp}", endpoint) for k, v in cfg.env.items()}}

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AGENTQ_", "SUPABASE_", "PUSHER_", "OTEL_"))
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
        return pid if proc_stat(pid) is not None else None  # a remote server: not counted

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
        from bench.vanilla_app import app as vanilla
        from workers.app import app

        # Each kind of worker is controlled through its own transport: kombu's binding
        # table keys differ between ours (sep ":") and kombu's own, and once workers.app is
        # configured redis:// means ours in this process (workers/broker/redis_transport.py).
        self.control_apps = {False: (app, None), True: (vanilla, kombu_connection(BROKER_URL))}

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
        # A vanilla worker logs its imports (-X importtime, at start-up only): the run is
        # checked to have loaded nothing of the product (bench/recording/watch.py).
        python = [sys.executable, "-X", "importtime"] if cfg.vanilla else [sys.executable]
        cmd = [
            *python, "-m", "celery", "-A", cfg.app, "worker",
            "-P", "prefork", "-c", str(self.args.concurrency),
            "-n", hostname, "-l", "warning",
            # Mingle and gossip only talk to other workers; there are none here.
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        if cfg.include:
            cmd += ["-I", cfg.include]
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env_of(cfg),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
            # -l warning hides " ready.": a ping answers once the consumer runs.
            control, conn = self.control_apps[cfg.vanilla]
            if control.control.ping(destination=[hostname], timeout=0.5, connection=conn):
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
            [sys.executable, "-m", "bench.producer", "--app", cfg.app, "--tasks", str(n)]
            + (["--include", cfg.include] if cfg.include else []),
            cwd=ROOT,
            env=self.env_of(cfg),
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
        postmaster = {st[0] for st in map(proc_stat, pids) if st is not None}
        return [p for p in pids + sorted(postmaster) if proc_stat(p) is not None]

    def snapshot(self, worker: int, producer: int) -> CpuSnapshot:
        return CpuSnapshot(
            worker=tree_cpu(worker),
            producer=pids_cpu([producer]),
            redis=pids_cpu([self.redis_pid] if self.redis_pid else []),
            postgres=pids_cpu(self._pg_pids()),
            machine=machine_busy(),
            me=time.process_time(),
        )

    def broker_pending(self) -> int:
        """Messages queued (every priority sub-queue) or delivered but not yet acked."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(QUEUE)
        for step in range(1, 10):  # ours: ":" and 0-9; kombu's own: "\x06\x16" and 0, 3, 6, 9
            pipe.llen(f"{QUEUE}:{step}")
            pipe.llen(f"{QUEUE}\x06\x16{step}")
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
        events = EventCounter(self.redis)
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
            result.task_events = events.stop()
            result.checks = self._verify(cfg, n, hostname, info, log, result.task_events)
            if cfg.done == "executions":
                self._lags(result)
            self._latency(producer, result)
            return result
        except Exception:
            print(f"worker log: {log}", file=sys.stderr)
            raise
        finally:
            events.stop()
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
            "producer": delta(before.producer, after.producer),
            "redis": delta(before.redis, after.redis),
            "postgres": delta(before.postgres, after.postgres),
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

    @staticmethod
    def _latency(producer: subprocess.Popen[str], result: RunResult) -> None:
        assert producer.stdin is not None and producer.stdout is not None
        producer.stdin.write(f"latency {LATENCY_CALLS}\n")
        producer.stdin.flush()
        got = json.loads(producer.stdout.readline())
        result.enqueue_wall_p50_ms = round(got["p50_ms"], 4)
        result.enqueue_wall_p99_ms = round(got["p99_ms"], 4)

    def _verify(
        self,
        cfg: Config,
        n: int,
        hostname: str,
        info: dict[str, Any],
        log: Path,
        task_events: dict[str, int],
    ) -> list[str]:
        """What does not look like N clean executions of the configuration asked for."""
        assert self.db is not None
        problems = []
        if cfg.vanilla:  # the anchors must stay vanilla Celery
            loaded = agentq_imports(log.read_text(errors="replace")) + info["agentq_modules"]
            if loaded:
                problems.append(f"vanilla Celery loaded product modules: {loaded}")
        sent = task_event_count(task_events)
        wants_events = cfg.env.get("BENCH_TASK_EVENTS") or cfg.env.get("AGENTQ_TASK_EVENTS")
        if bool(sent) != bool(wants_events):
            problems.append(f"{sent} task events sent, expected {'some' if wants_events else 0}")
        control, conn = self.control_apps[cfg.vanilla]
        inspect = control.control.inspect(destination=[hostname], timeout=3, connection=conn)
        stats = inspect.stats() or {}
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
        untraced = "SELECT count(*) FROM agent_executions WHERE trace_id IS NULL"
        if cfg.key == "t" and self.db.execute(untraced).fetchone() != (0,):
            problems.append("(t) recorded executions without a trace id")
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
        if self.otlp is not None:
            print(f"(t) spans: {self.otlp.requests} OTLP requests, {self.otlp.bytes} bytes")
            self.otlp.close()
        if self.db is not None:
            self.db.close()
        self.redis.close()
        if keep_logs:
            print(f"worker logs kept in {self.data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)
