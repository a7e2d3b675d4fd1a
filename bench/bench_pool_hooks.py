"""CPU a pool process spends recording one task: ``running`` sent on its own, or held.

    .venv/bin/python -m bench.bench_pool_hooks [--tasks 3000] [--repeat 7] [--task-us 200]

Calls the pool side of the lifecycle hooks (``task_prerun`` then ``task_success``, what a
pool process runs around every task) in this process, as a worker's pool process does
(confirm mode ``final``: the task's last event waits for Redis's replies), with a real
``EventSink`` on a stream of a real Redis, ``--task-us`` of sleep between the two as the
task's run. Two variants, interleaved in rotated order over ``--repeat`` repetitions,
medians of CPU (``time.process_time()``: every thread of this process, so the held-running
thread's wake-ups count) per task:

  sep    AGENTQ_RUNNING_HOLD_MS=0 (the default): running and the end, two XADDs
  held   AGENTQ_RUNNING_HOLD_MS=100: one XADD holding both (the task ends within the hold)

Also counts the stream entries each variant wrote (2 and 1 per task). Only the pool side:
Redis's and the recorder's share of the saved entry are ``bench_recording``'s (k) against (b).
Writes to ``agentq:bench:hooks:<pid>`` in Redis DB ``AGENTQ_BENCH_REDIS_DB`` (default 6),
deleted after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from workers.recording import signals
from workers.recording.hook_state import HookState
from workers.settings import get_settings

REDIS_BASE = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
BENCH_REDIS_DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "6"))
RESULTS = Path(__file__).resolve().parent / "results" / "pool_hooks_last_run.json"
VARIANTS = {"sep": "0", "held": "100"}


def _task() -> Any:
    request = SimpleNamespace(
        id="",
        retries=0,
        hostname="celery@bench",
        kwargs={"task_type": "noop"},
        called_directly=False,
    )
    return SimpleNamespace(name="agents.content_generator.noop", request=request)


def run(variant: str, tasks: int, task_us: int, url: str) -> dict[str, float]:
    stream = f"agentq:bench:hooks:{os.getpid()}"
    os.environ.update(
        {
            "CELERY_BROKER_URL": url,
            "AGENTQ_EVENTS_STREAM": stream,
            "AGENTQ_RECORDING": "true",
            "AGENTQ_EVENTS_CONFIRM": "auto",
            "AGENTQ_RUNNING_HOLD_MS": VARIANTS[variant],
        }
    )
    get_settings.cache_clear()
    signals.state.reset()
    signals.state = HookState()
    signals.state.in_worker = True  # a pool process: confirm mode "final", holding allowed
    task = _task()
    r = redis.Redis.from_url(url)
    r.delete(stream)
    signals.get_sink()  # the connection is made once per process, not per task
    cpu = 0.0
    for _ in range(tasks):
        task_id = uuid.uuid4().hex
        task.request.id = task_id
        c0 = time.process_time()
        signals.on_prerun(task_id=task_id, task=task, kwargs=task.request.kwargs)
        cpu += time.process_time() - c0
        time.sleep(task_us / 1e6)
        c0 = time.process_time()
        signals.on_success(sender=task, result={"output_data": {"ok": True}, "quality_score": 1.0})
        cpu += time.process_time() - c0
    signals.flush()
    entries = int(r.xlen(stream))
    r.delete(stream)
    signals.state.reset()
    return {"cpu_us_per_task": cpu / tasks * 1e6, "entries_per_task": entries / tasks}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--task-us", type=int, default=200, help="sleep between prerun and success")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    url = f"{REDIS_BASE}/{BENCH_REDIS_DB}"
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    run(order[0], 200, args.task_us, url)  # warm-up
    for rep in range(args.repeat):
        for v in order[rep % len(order) :] + order[: rep % len(order)]:
            runs[v].append(run(v, args.tasks, args.task_us, url))
    med = {v: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for v, rs in runs.items()}
    paired = statistics.median(
        h["cpu_us_per_task"] / s["cpu_us_per_task"]
        for h, s in zip(runs["held"], runs["sep"], strict=True)
    )
    for v, m in med.items():
        cpu, entries = m["cpu_us_per_task"], m["entries_per_task"]
        print(f"{v:5s} {cpu:8.1f} us CPU per task, {entries:.2f} entries")
    print(f"held/sep CPU per task, paired median: {paired:.3f}")
    args.output.write_text(
        json.dumps(
            {
                "command": "python -m bench.bench_pool_hooks " + " ".join(argv or sys.argv[1:]),
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_avg": os.getloadavg(),
                "settings": vars(args) | {"output": str(args.output)},
                "medians": med,
                "held/sep cpu paired": paired,
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
