"""The benchmark's producer: one subprocess per run that publishes N no-op agent tasks.

A separate process, so that each configuration gets its own settings, app
configuration and recording hooks, and so that its CPU time can be read from
/proc like every other process involved. Protocol on stdin/stdout (one JSON
object per line):

    -> {"ready": true, ...}       after imports and the broker connection
    <- "go"
    -> {"t_first": ..., ...}      after the publish loop
    <- EOF                        exit

    python -m bench.producer --app workers.app --tasks 3000
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time


def _say(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="workers.app", help="module holding the Celery app")
    parser.add_argument("--tasks", type=int, required=True)
    args = parser.parse_args(argv)

    # The app module first: bench.dbbackend_app swaps the configuration before use.
    importlib.import_module(args.app)
    from tests.support.tasks import noop

    app = noop._get_app()
    # Connect now: the connection is set up once per process, not per publish.
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=3)
    _say(
        {
            "ready": True,
            "backend": type(app.backend).__name__,
            "ignore_result": bool(noop.ignore_result),
            "track_started": bool(noop.track_started),
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
    sys.stdin.read()  # stay alive (and countable) until the benchmark has its numbers
    return 0


if __name__ == "__main__":
    sys.exit(main())
