"""What the poison guard costs a worker per message, against what Celery already spends.

The worker's Redis transport holds the raw bytes of every message against the message
schema (``workers/broker/message_check.py``: envelope, properties, headers, body) before
kombu parses them. This times, in one process, on the raw envelope of a real agent task
as the producer writes it:

* baseline (vanilla Celery / kombu) — what the worker's main process does anyway: parse
  the envelope (kombu's ``loads``), build kombu's ``Message`` (base64), decode the body
  and build Celery's ``Request`` (the strategy's work before the pool);
* guarded — the schema check on the raw bytes (it also hands kombu the parsed envelope),
  then the same ``Message`` and ``Request``.

Reported as CPU µs per message and the ratio guarded / baseline, medians of interleaved
repetitions. No broker needed.

    python -m bench.bench_message_check [--messages 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from celery.worker.request import Request
from kombu.transport.virtual import Message
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from tasks.registry import get_spec
from workers.app import app
from workers.broker import message_check

RESULTS = Path(__file__).resolve().parent / "results" / "message_check_last_run.json"


def _raw() -> bytes:
    """An agent task's envelope exactly as the producer puts it on the Redis queue."""
    spec = get_spec("content_generator")
    task_id = str(uuid.uuid4())
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    body = json.dumps(
        [[], {"task_type": spec.example_task_type, "input_data": spec.example}, embed]
    )
    headers = {
        "lang": "py",
        "task": "agents.content_generator",
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [30.0, 20.0],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        "origin": "gen1@bench",
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id,
            "reply_to": str(uuid.uuid4()),
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "content_generator"},
            "priority": 5,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


class _Channel:  # what kombu's virtual Message asks of its channel
    @staticmethod
    def decode_body(body: str, encoding: str | None) -> bytes:
        return base64.b64decode(body)


def _request(envelope: dict[str, Any], task: Any) -> None:
    message = Message(envelope, channel=_Channel())
    message.accept = ["application/json"]
    _ = message.payload  # the strategy decodes the body ("'args' in message.payload")
    Request(message, app=app, task=task)


def _celery_part(raw: bytes, task: Any) -> None:
    _request(loads(bytes_to_str(raw)), task)  # kombu's _brpop_read, then its _callback


def _guarded(raw: bytes, task: Any, limit: int) -> None:
    _request(message_check.check_envelope(raw, limit), task)


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
    raws = [_raw() for _ in range(64)]  # distinct ids and tags, as on a real queue
    it = iter(range(1 << 62))

    def raw() -> bytes:
        return raws[next(it) % len(raws)]

    building = _time(raw, args.messages)  # subtracted: picking the message
    runs: dict[str, list[float]] = {"baseline": [], "guarded": []}
    for i in range(args.repeat):
        order = ["baseline", "guarded"] if i % 2 == 0 else ["guarded", "baseline"]
        for name in order:
            fn = (
                (lambda: _celery_part(raw(), task))
                if name == "baseline"
                else (lambda: _guarded(raw(), task, limit))
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
