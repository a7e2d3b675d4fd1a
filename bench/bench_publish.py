"""What one publish costs the producer: kombu's own Redis transport against ours.

    .venv/bin/python -m bench.bench_publish [--messages 5000] [--repeat 7]

Our transport (``workers/broker/redis_transport.py``) sends each message with its bell
(LPUSH, LPUSH bell, LTRIM bell) in one round trip; kombu's sends one LPUSH. This times
``kombu.Producer.publish`` of the same message (a no-op agent task's body, priority 5) in
one process through three channels, interleaved, medians of CPU (process_time) per
publish: (k) kombu's own transport, (o) ours, (n) ours with the message and its bell sent
in one hand-packed round trip instead of through a redis-py Pipeline (a lever tried for
issue 21 and not adopted: it did not pay, docs/benchmarks.md).
Redis DB ``AGENTQ_BENCH_REDIS_DB`` (default 12) is flushed before each round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

from workers.broker import redis_transport, take

REDIS = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "12"))
RESULTS = Path(__file__).resolve().parent / "results" / "publish_last_run.json"
OPTIONS = {"priority_steps": list(range(10)), "sep": ":", "queue_order_strategy": "priority"}


class PackedChannel(redis_transport.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        bell = take.bell(queue, self.sep)
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        commands: list[tuple[Any, ...]] = [("LPUSH", key, dumps(message)), ("LPUSH", bell, "1")]
        commands.append(("LTRIM", bell, 0, take.BELL_MAX - 1))
        with self.conn_or_acquire() as client:
            conn = client.connection_pool.get_connection()
            try:
                conn.send_packed_command(conn.pack_commands(commands))
                for _ in commands:
                    conn.read_response()
            finally:
                client.connection_pool.release(conn)


class PackedTransport(redis_transport.Transport):
    Channel = PackedChannel


TRANSPORTS = {
    "k": ("kombu's own Redis transport", kombu_redis.Transport),
    "o": ("ours (message and bell: a Pipeline)", redis_transport.Transport),
    "n": ("ours, hand-packed round trip (not adopted)", PackedTransport),
}


def _body() -> dict[str, Any]:
    return {"task_type": "noop", "input_data": {"n": 1}, "user_id": None, "session_id": None}


def _round(kind: str, n: int) -> float:
    conn = Connection(f"{REDIS}/{DB}", transport=TRANSPORTS[kind][1], transport_options=OPTIONS)
    try:
        queue = Queue("content_generator", Exchange("content_generator"), "content_generator")
        producer = Producer(conn.channel(), serializer="json")
        queue(producer.channel).declare()
        producer.channel.client.flushdb()
        headers = {"task": "agents.content_generator.noop", "id": "x", "retries": 0}
        for _ in range(50):  # connections and caches warm
            producer.publish(_body(), routing_key="content_generator", priority=5)
        t0 = time.process_time()
        for i in range(n):
            producer.publish(
                [[], _body(), {}],
                routing_key="content_generator",
                exchange="content_generator",
                priority=5,
                headers={**headers, "id": str(i)},
            )
        return (time.process_time() - t0) * 1e6 / n
    finally:
        conn.release()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    runs: dict[str, list[float]] = {k: [] for k in TRANSPORTS}
    keys = list(TRANSPORTS)
    for rep in range(args.repeat):
        for kind in keys[rep % 3 :] + keys[: rep % 3]:  # rotated, as bench_recording
            runs[kind].append(_round(kind, args.messages))
    med = {k: statistics.median(v) for k, v in runs.items()}
    paired = {
        f"{x}/k": statistics.median(a / b for a, b in zip(runs[x], runs["k"], strict=True))
        for x in ("o", "n")
    }
    for k, (label, _) in TRANSPORTS.items():
        print(f"({k}) {label:<42} {med[k]:7.1f} us CPU per publish  runs {runs[k]}")
    print("paired: " + ", ".join(f"{k} {v:.3f}" for k, v in paired.items()))
    doc = {
        "command": "python -m bench.bench_publish " + " ".join(sys.argv[1:]),
        "median_us": med,
        "paired": paired,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
