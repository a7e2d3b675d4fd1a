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

The benchmark uses its own database (agentq_bench, migrated here; AGENTQ_BENCH_DB) and Redis
DB 12 (AGENTQ_BENCH_REDIS_DB),
both emptied before every run. Variants of (b) on request (--configs): d, s (confirm
modes), r (XADDs through redis-py's Connection, bench/redispy_app.py), k (running held and
sent with the task's end, AGENTQ_RUNNING_HOLD_MS=100).

This module is the command line and the run loop; bench/recording/ holds the rest:
configs (configurations, targets, results), procstat (/proc), harness (the runs),
report (medians, ratios, targets, output).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.recording.configs import CONFIGS, RESULTS, RunResult
from bench.recording.harness import Bench
from bench.recording.report import (
    evaluate,
    paired_ratios,
    print_report,
    print_run,
    summarize,
    write_json,
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
    p.add_argument(
        "--configs", default="vfabce", help="which configurations to run (default vfabce)"
    )
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
                print_run(result)
                runs.append(result)
        failed = False
    finally:
        bench.close(keep_logs=failed)
    med = summarize(runs)
    ratios, targets = evaluate(med, paired_ratios(runs))
    print_report(runs, med, ratios, targets)
    write_json(args, c_tasks, started, runs, med, ratios, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
