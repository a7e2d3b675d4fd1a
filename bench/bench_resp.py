"""CPU per XADD: the hooks' hand-written RESP writer vs redis-py's own connection.

    .venv/bin/python -m bench.bench_resp               # or: python bench/bench_resp.py

Both writers in this one process, the same Redis, the same payload (a ``running``
event as the hooks encode it), interleaved in rotated order over ``--repeat``
repetitions; medians reported. Writers:

  resp      workers/recording/resp.py RespWriter (pre-encoded RESP, plain socket)
  redis-py  bench/redispy_writer.py ConnectionWriter (redis.connection.Connection:
            pack_command / send_packed_command / can_read / read_response)
  client    for reference: redis-py's client, ``Redis.xadd`` (resp.py's TLS fallback;
            every XADD waits for its reply, whatever the mode)

each used the way ``workers/recording/sink.py`` uses a writer, in its two modes:

  deferred  poll() (read the replies that arrived) then send(); one confirm() at the
            end: the publishing process (the web app, the benchmark's producer)
  each      poll(), send(), confirm(): a worker's pool process (confirm mode ``auto``)

with ``--gap-us`` of sleep between events, as between a task's transitions, so that a
reply has normally arrived by the next event. Only the writer's calls are timed
(``time.process_time()`` around them); the same loop with a writer that does nothing
is subtracted. A task costs one deferred XADD (the producer's pending + queued) and two
confirmed ones (running, completed).

Writes to the stream ``agentq:bench:resp:<pid>`` of Redis DB 12 (``AGENTQ_BENCH_REDIS``,
``AGENTQ_BENCH_REDIS_DB``), deleted after every run; nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/bench_resp.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from bench.redispy_writer import ConnectionWriter
from persistence import wire
from workers.recording.resp import RespWriter, StreamWriter, _RedisPyWriter

REDIS_BASE = os.environ.get("AGENTQ_BENCH_REDIS", "redis://127.0.0.1:6379")
BENCH_REDIS_DB = int(os.environ.get("AGENTQ_BENCH_REDIS_DB", "12"))
RESULTS = Path(__file__).resolve().parent / "results" / "resp_last_run.json"


class NullWriter:
    """The loop's own cost: a writer that sends nothing."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.unconfirmed: deque[bytes] = deque()

    def send(self, stream: bytes, field: bytes, value: bytes) -> None:
        self.unconfirmed.append(value)

    def poll(self) -> list[tuple[bytes, str]]:
        return []

    def confirm(self, timeout: float) -> list[tuple[bytes, str]]:
        self.unconfirmed.clear()
        return []

    def close(self) -> None:
        pass


WRITERS: dict[str, Callable[[str, float], StreamWriter]] = {
    "null": NullWriter,
    "resp": RespWriter,
    "redis-py": ConnectionWriter,
    "client": _RedisPyWriter,
}
COMPARED = ("resp", "redis-py", "client")
MODES = ("deferred", "each")


def payload() -> bytes:
    task_id = uuid.uuid4().hex
    return wire.encode(
        [
            wire.transition(
                uuid.uuid4().hex,
                task_id,
                "running",
                0,
                time.time(),
                "content_generator",
                "noop",
                worker="bench-b1@bench",
            )
        ]
    )


def run_once(url: str, writer_name: str, mode: str, n: int, gap_s: float) -> float:
    """Writer CPU seconds for ``n`` events (the writer's calls only)."""
    stream = f"agentq:bench:resp:{os.getpid()}".encode()
    value = payload()
    writer = WRITERS[writer_name](url, 2.0)
    clock = time.process_time
    cpu = 0.0
    try:
        for _ in range(n):
            t0 = clock()
            if writer.poll():
                raise RuntimeError("Redis refused an XADD")
            writer.send(stream, b"e", value)
            if mode == "each" and writer.confirm(2.0):
                raise RuntimeError("Redis refused an XADD")
            cpu += clock() - t0
            time.sleep(gap_s)
        t0 = clock()
        if writer.confirm(5.0):
            raise RuntimeError("Redis refused an XADD")
        cpu += clock() - t0
    finally:
        writer.close()
    check = redis.Redis.from_url(url)
    try:
        written = check.xlen(stream) if writer_name != "null" else n
        check.delete(stream)
    finally:
        check.close()
    if written != n:
        raise RuntimeError(f"{writer_name}: {written} entries in the stream, expected {n}")
    return cpu


def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = f"{REDIS_BASE}/{BENCH_REDIS_DB}"
    names = list(WRITERS)
    cpu: dict[tuple[str, str], list[float]] = {(w, m): [] for w in names for m in MODES}
    for w in names:  # warm-up: imports, first connections, the allocator
        for m in MODES:
            run_once(url, w, m, min(200, args.events), args.gap_us / 1e6)
    for rep in range(args.repeat):
        shift = rep % len(names)
        for w in names[shift:] + names[:shift]:
            for m in MODES:
                cpu[(w, m)].append(run_once(url, w, m, args.events, args.gap_us / 1e6))
        print(f"  rep {rep + 1}/{args.repeat} done", flush=True)
    per_xadd: dict[str, dict[str, float]] = {}  # µs, the null writer's loop subtracted
    paired: dict[str, dict[str, float]] = {}  # median over repetitions of x / resp
    for m in MODES:
        null = cpu[("null", m)]
        per_rep = {
            w: [(c - z) * 1e6 / args.events for c, z in zip(cpu[(w, m)], null, strict=True)]
            for w in COMPARED
        }
        per_xadd[m] = {w: round(statistics.median(v), 2) for w, v in per_rep.items()}
        per_xadd[m]["null loop"] = round(statistics.median(null) * 1e6 / args.events, 2)
        paired[m] = {
            w: round(
                statistics.median(x / h for x, h in zip(per_rep[w], per_rep["resp"], strict=True)),
                3,
            )
            for w in COMPARED[1:]
        }
    per_task = {w: round(per_xadd["deferred"][w] + 2 * per_xadd["each"][w], 2) for w in COMPARED}
    return {
        "command": "python -m bench.bench_resp " + " ".join(sys.argv[1:]),
        "settings": vars(args) | {"output": os.path.relpath(args.output)},
        "loadavg_1min_end": round(os.getloadavg()[0], 2),  # other work on the machine
        "redis_py": redis.__version__,
        "payload_bytes": len(payload()),
        "us_cpu_per_xadd": per_xadd,
        "paired_ratio_vs_resp": paired,
        "us_cpu_per_task": per_task,
        "runs_cpu_s": {f"{w} {m}": v for (w, m), v in cpu.items()},
    }


def report(res: dict[str, Any]) -> None:
    per, paired = res["us_cpu_per_xadd"], res["paired_ratio_vs_resp"]
    print(
        f"\nµs of client CPU per XADD (medians of {res['settings']['repeat']} interleaved"
        f" runs of {res['settings']['events']} events, redis-py {res['redis_py']},"
        f" {res['payload_bytes']}-byte payload; the loop's own cost subtracted). x/resp:"
        " ratio of the medians, and (paired) median of the ratios within a repetition"
    )
    print(f"{'mode':<10}{'resp':>7}{'redis-py':>10}{'x/resp':>8}{'paired':>8}", end="")
    print(f"{'client':>9}{'x/resp':>8}{'paired':>8}{'loop':>7}")
    for m in MODES:
        h, r, c = (per[m][w] for w in COMPARED)
        print(f"{m:<10}{h:>7.1f}{r:>10.1f}{r / h:>7.2f}x{paired[m]['redis-py']:>7.2f}x", end="")
        print(f"{c:>9.1f}{c / h:>7.2f}x{paired[m]['client']:>7.2f}x{per[m]['null loop']:>7.1f}")
    t = res["us_cpu_per_task"]
    print(
        f"per task (1 deferred + 2 each): resp {t['resp']:.1f} µs, redis-py"
        f" {t['redis-py']:.1f} µs ({t['redis-py'] / t['resp']:.2f}x), client"
        f" {t['client']:.1f} µs ({t['client'] / t['resp']:.2f}x)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=3000, help="XADDs per run (default 3000)")
    p.add_argument("--repeat", type=int, default=7, help="interleaved repetitions (default 7)")
    p.add_argument("--gap-us", type=float, default=200, help="sleep between events (µs)")
    p.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"{args.events} XADDs per run, {args.repeat} x {list(WRITERS)} x {list(MODES)}",
        flush=True,
    )
    res = measure(args)
    report(res)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
