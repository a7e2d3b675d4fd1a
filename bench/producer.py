"""The benchmark's producer: one subprocess per run that publishes N no-op agent tasks.

A separate process, so that each configuration gets its own settings, app
configuration and recording hooks, and so that its CPU time can be read from
/proc like every other process involved. Protocol on stdin/stdout (one JSON
object per line):

    -> {"ready": true, ...}       after imports and the broker connection
    <- "go"
    -> {"t_first": ..., ...}      after the publish loop
    <- "latency N"                (optional) N more calls, each timed
    -> {"p50_ms": ..., ...}
    <- EOF                        exit

    python -m bench.producer --app workers.app --include tests.support.tasks --tasks 3000

The latency calls publish the real ``agents.content_generator`` task the way a web
request would: through ``workers.producer.enqueue`` (validation, recording hooks) on the
product's app, through ``apply_async`` with the same arguments on vanilla Celery.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from typing import Any


def _say(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="workers.app", help="module holding the Celery app")
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--include", default=None, help="module defining the no-op task")
    args = parser.parse_args(argv)

    # The app module first: bench.dbbackend_app swaps the configuration before use.
    app = importlib.import_module(args.app).app
    if args.include:
        importlib.import_module(args.include)
    noop = app.tasks["agents.content_generator.noop"]
    # Connect now: the connection is set up once per process, not per publish.
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=3)
    _say(
        {
            "ready": True,
            "backend": type(app.backend).__name__,
            "ignore_result": bool(noop.ignore_result),
            "track_started": bool(noop.track_started),
            # The product's broker layer and hooks, if loaded (the vanilla anchors must not).
            "agentq_modules": sorted(
                m for m in sys.modules if m.startswith(("workers.broker", "workers.recording"))
            ),
        }
    )
    if sys.stdin.readline().strip() != "go":
        return 1

    t_first = time.time()
    cpu0 = time.process_time()
    for i in range(args.tasks):
        noop.apply_async(kwargs={"task_type": "noop", "input_data": {"n": i}})
    cpu = time.process_time() - cpu0
    t_last = time.time()
    _say({"t_first": t_first, "t_last": t_last, "cpu_s": cpu, "tasks": args.tasks})
    for line in sys.stdin:  # stay alive (and countable) until the benchmark has its numbers
        if line.startswith("latency "):
            _say(_latency(app, args.app, int(line.split()[1])))
    return 0


def _latency(app: Any, app_module: str, n: int) -> dict[str, object]:
    """Wall time of n back-to-back publishes of a real agent task, as a web request
    makes them: ``producer.enqueue`` on the product's app, ``apply_async`` on vanilla."""
    from tasks.registry import get_spec

    spec = get_spec("content_generator")
    task_type, data = spec.example_task_type, spec.example
    if app_module == "bench.vanilla_app":
        task = app.tasks["agents.content_generator"]
        kwargs = {"task_type": task_type, "input_data": data, "user_id": None, "session_id": None}

        def call() -> None:
            task.apply_async(kwargs=kwargs)
    else:
        from workers.producer import enqueue

        def call() -> None:
            enqueue("content_generator", task_type, data)

    call()  # the first call's imports and lookups are not a request's
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return {"n": n, "p50_ms": statistics.median(times), "p99_ms": cuts[98], "max_ms": max(times)}


if __name__ == "__main__":
    sys.exit(main())
