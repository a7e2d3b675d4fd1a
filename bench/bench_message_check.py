"""What the poison guard costs a worker per message, against what Celery already spends.

The worker's consumer (``workers/broker/consumer.py``) checks every message before Celery
builds its request (``workers/broker/message_check.py``). This times, in one process, on
the same real kombu message of an agent task (the producer's own envelope):

* baseline — what Celery does anyway in the worker's main process: decode the body and
  build the ``Request`` (the strategy's work before the pool);
* guarded — the check, then the same.

Reported as CPU µs per message and the ratio guarded / baseline, medians of interleaved
repetitions. No broker needed: the message is built as kombu's Redis transport builds it.

    python -m bench.bench_message_check [--messages 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from celery.worker.request import Request
from kombu.message import Message

from tasks.registry import get_spec
from workers.app import app
from workers.broker import message_check

RESULTS = Path(__file__).resolve().parent / "results" / "message_check_last_run.json"


def _message() -> Message:
    spec = get_spec("content_generator")
    task_id = str(uuid.uuid4())
    body = json.dumps(
        [[], {"task_type": spec.example_task_type, "input_data": spec.example}, None]
    ).encode()
    headers = {
        "lang": "py",
        "task": "agents.content_generator",
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "timelimit": [None, None],
        "eta": None,
        "expires": None,
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        "origin": "gen1@bench",
        "ignore_result": True,
    }
    m = Message(
        body=body,
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_info={"exchange": "", "routing_key": "content_generator"},
        properties={"correlation_id": task_id, "priority": 5},
    )
    m.accept = ["application/json"]
    return m


def _celery_part(task: Any) -> None:
    message = _message()
    _ = message.payload  # the strategy decodes the body ("'args' in message.payload")
    Request(message, app=app, task=task)


def _guarded(task: Any, limit: int) -> None:
    message = _message()
    assert message_check.problem(message, limit) is None
    _ = message.payload
    Request(message, app=app, task=task)


def _time(fn: Any, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    task = app.tasks["agents.content_generator"]
    limit = 1 << 22
    building = _time(_message, args.messages)  # subtracted: the bench builds each message
    runs: dict[str, list[float]] = {"baseline": [], "guarded": []}
    for i in range(args.repeat):
        order = ["baseline", "guarded"] if i % 2 == 0 else ["guarded", "baseline"]
        for name in order:
            fn = (
                (lambda: _celery_part(task))
                if name == "baseline"
                else (lambda: _guarded(task, limit))
            )
            runs[name].append(_time(fn, args.messages) - building)
    base, guarded = (statistics.median(runs[k]) for k in ("baseline", "guarded"))
    ratios = [g / b for g, b in zip(runs["guarded"], runs["baseline"], strict=True)]
    result = {
        "messages": args.messages,
        "repeat": args.repeat,
        "baseline_us": round(base, 2),
        "guarded_us": round(guarded, 2),
        "check_us": round(guarded - base, 2),
        "ratio": round(guarded / base, 3),
        "paired_ratio_median": round(statistics.median(ratios), 3),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"CPU per message: Celery's own {base:.1f} us, with the check {guarded:.1f} us "
        f"({guarded / base:.3f}x; paired median {statistics.median(ratios):.3f}x); "
        f"the check alone {guarded - base:.1f} us"
    )


if __name__ == "__main__":
    main()
