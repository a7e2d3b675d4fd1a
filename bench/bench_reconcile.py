"""What one reconcile pass costs over a large record and a large backlog (issue 23).

    .venv/bin/python -m bench.bench_reconcile [--tasks 100000] [--backlog 100000]
        [--running 1000] [--page 1000] [--repeat 3] [--redis-url redis://127.0.0.1:6379/15]

Builds the database ``agentq_bench_reconcile`` (migrated to head) and fills
``agent_executions`` with ``--tasks`` ``queued`` executions and ``--running`` more
``running`` on an online worker (COPY), all young: nothing is a difference, so the pass
does all its reading and no repair. Pushes one message per queued task, up to
``--backlog``, onto the agent queues and their priority sub-queues 0 / 5 / 9 (pipelined
``LPUSH``, kombu envelopes as the producer writes them), and puts the running tasks'
messages in the unacked hash. The
Redis database given must be empty (the bench refuses otherwise); the keys the bench
wrote are deleted at the end.

Then runs ``reconcile_once(repair=False)`` ``--repeat`` times and reports, per pass: wall
time, the process's CPU time, pages read (database and Redis), messages read, and the
longest single Redis command seen by the client (one page: ``LRANGE`` / ``HSCAN`` /
``XRANGE`` of ``--page`` items, network and this process's scheduling included: an
upper bound of the time Redis was busy with it), and Redis's own mean time per paged
command (``INFO commandstats`` before and after the pass; server-wide, so other clients'
calls of the same commands are mixed in). Saves ``bench/results/reconcile_last_run.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis

from persistence.migration_service import MigrationService
from persistence.schema import AGENT_TYPE_VALUES

DB_NAME = "agentq_bench_reconcile"
RESULTS = Path(__file__).with_name("results") / "reconcile_last_run.json"
WORKER = "bench@host"


def _urls() -> tuple[str, str, str]:
    admin = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    plain = admin.rsplit("/", 1)[0] + "/" + DB_NAME
    return admin, plain, plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _message(task_id: str, agent_type: str, priority: int) -> bytes:
    """A kombu envelope of a Celery protocol-2 task message, as the producer writes it."""
    body = orjson.dumps([[], {"task_type": "bench", "input_data": {"n": 1}}, {}])
    return orjson.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": f"agents.{agent_type}",
                "id": task_id,
                "root_id": task_id,
                "retries": 0,
                "timelimit": [None, None],
                "eta": None,
                "expires": None,
            },
            "properties": {
                "correlation_id": task_id,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": agent_type},
                "priority": priority,
                "body_encoding": "base64",
                "delivery_tag": uuid.uuid4().hex,
            },
        }
    )


def _seed_database(
    plain: str, admin: str, sa_url: str, n: int, running: int
) -> list[tuple[str, str, str]]:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    MigrationService(sa_url).run_migrations()
    rows = []
    for i in range(n):
        agent_type = AGENT_TYPE_VALUES[i % len(AGENT_TYPE_VALUES)]
        rows.append((f"bench-{i:07d}", agent_type, "running" if i < running else "queued"))
    now = datetime.now(UTC)
    with psycopg.connect(plain) as conn:
        for agent_type in AGENT_TYPE_VALUES:  # the worker is online
            conn.execute(
                "INSERT INTO agent_instances (agent_id, agent_type, status, worker, "
                "last_heartbeat) VALUES (%s, %s, 'busy', %s, now() + interval '1 day')",
                (f"{agent_type}@{WORKER}", agent_type, WORKER),
            )
        cols = "task_id, agent_type, task_type, status, created_at, status_at, worker"
        with conn.cursor().copy(f"COPY agent_executions ({cols}) FROM STDIN") as copy:
            for task_id, agent_type, status in rows:
                worker = WORKER if status == "running" else None
                copy.write_row((task_id, agent_type, "bench", status, now, now, worker))
        conn.execute("ANALYZE agent_executions")
    return rows


def _seed_redis(client: Any, rows: list[tuple[str, str, str]], backlog: int) -> None:
    pipe = client.pipeline(transaction=False)
    queued = 0
    for i, (task_id, agent_type, status) in enumerate(rows):
        priority = (0, 5, 9)[i % 3]
        message = _message(task_id, agent_type, priority)
        if status == "running":
            tag = uuid.uuid4().hex
            pipe.hset("unacked", tag, b"[" + message + b',"","' + agent_type.encode() + b'"]')
            pipe.zadd("unacked_index", {tag: time.time()})
        elif queued < backlog:
            key = agent_type if priority == 0 else f"{agent_type}:{priority}"
            pipe.lpush(key, message)
            queued += 1
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()


PAGED = ("lrange", "hscan", "xrange")


def _commandstats(client: Any) -> dict[str, tuple[int, int]]:
    """Redis's own (calls, microseconds) of the paged commands, server-wide."""
    info = client.info("commandstats")
    return {
        c: (info[f"cmdstat_{c}"]["calls"], info[f"cmdstat_{c}"]["usec"])
        for c in PAGED
        if f"cmdstat_{c}" in info
    }


def _server_us_per_call(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    out = {}
    for c, (calls, usec) in after.items():
        c0, u0 = before.get(c, (0, 0))
        if calls > c0:
            out[c] = round((usec - u0) / (calls - c0), 1)
    return out


def _clean_redis(client: Any) -> None:
    """Delete what the bench and the passes wrote (only those keys)."""
    from workers.broker.dead_letters import MESSAGES_STREAM
    from workers.reconcile.broker_view import queue_keys

    keys = [k for a in AGENT_TYPE_VALUES for k in queue_keys(a)]
    keys += ["unacked", "unacked_index", MESSAGES_STREAM]
    keys += [k.decode() for k in client.scan_iter("agentq:reconcile:*")]
    client.delete(*keys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=100_000, help="queued executions")
    ap.add_argument("--running", type=int, default=1000, help="running executions, on top")
    ap.add_argument("--backlog", type=int, default=100_000, help="queued messages (<= tasks)")
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = ap.parse_args(argv)

    client = redis.Redis.from_url(args.redis_url)
    if client.dbsize():
        print(f"{args.redis_url} is not empty: the bench needs a Redis database of its own")
        return 2
    admin, plain, sa_url = _urls()
    t = time.perf_counter()
    rows = _seed_database(plain, admin, sa_url, args.tasks + args.running, args.running)
    _seed_redis(client, rows, args.backlog)
    print(f"seeded {len(rows)} rows and messages in {time.perf_counter() - t:.1f} s")

    os.environ["AGENTQ_RECONCILE_PAGE"] = str(args.page)
    from workers.reconcile import reconcile_once
    from workers.settings import load_settings

    settings = load_settings(celery_broker_url=args.redis_url, database_url=plain)
    passes = []
    try:
        for i in range(args.repeat):
            stats = _commandstats(client)
            cpu, wall = time.process_time(), time.perf_counter()
            report = reconcile_once(repair=False, grace_s=300, settings=settings)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            server = _server_us_per_call(stats, _commandstats(client))
            data = report.to_json()
            passes.append(
                {
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "open_rows": data["open_rows"],
                    "messages": data["messages"],
                    "pages": data["pages"],
                    "longest_redis_command_ms": data["longest_redis_command_ms"],
                    "redis_server_us_per_call": server,
                    "counts": data["counts"],
                }
            )
            print(f"pass {i + 1}: {json.dumps(passes[-1])}")
    finally:
        _clean_redis(client)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    result = {
        "command": "python -m bench.bench_reconcile " + " ".join(argv or sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared (a busy machine)",
        "queued_tasks": args.tasks,
        "running_tasks": args.running,
        "backlog": args.backlog,
        "page": args.page,
        "passes": passes,
        "median_wall_s": statistics.median(p["wall_s"] for p in passes),
        "median_cpu_s": statistics.median(p["cpu_s"] for p in passes),
        "max_longest_redis_command_ms": max(p["longest_redis_command_ms"] for p in passes),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "passes"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
