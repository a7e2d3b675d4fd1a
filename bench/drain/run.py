"""One drain: fill the stream, let K recorder processes empty it, measure, verify."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
import redis

from bench.drain import verify
from bench.drain.traffic import STREAM, Traffic, fill, reset_stream
from bench.recording.procstat import machine_busy, proc_stat

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Servers:
    pg_url: str  # postgresql://... of the benchmark's database
    sa_url: str  # the same, postgresql+psycopg:// (SQLStore)
    redis_url: str
    postmaster: int
    redis_pid: int
    logs: Path


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def pg_cpu(postmaster: int) -> dict[int, tuple[str, float]]:
    """CPU s of the server's processes by pid, kind "backend" (a client's connection) or
    "server" (postmaster with its reaped children, checkpointer, autovacuum, WAL writer...)."""
    out: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        st = proc_stat(pid)
        if st is None:
            continue
        if pid == postmaster:
            out[pid] = ("server", st[1] + st[2])
        elif st[0] == postmaster:
            kind = "backend" if _cmdline(pid).startswith(b"postgres: postgres ") else "server"
            out[pid] = (kind, st[1])
    return out


def _snapshot(srv: Servers, children: list[int]) -> dict[str, Any]:
    return {
        "t": time.monotonic(),
        "recorders": {pid: (proc_stat(pid) or (0, 0.0, 0.0))[1] for pid in children},
        "pg": pg_cpu(srv.postmaster),
        "redis": (proc_stat(srv.redis_pid) or (0, 0.0, 0.0))[1],
        "machine": sum(machine_busy().values()),
        "me": time.process_time(),
    }


def _cpu_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    pg = {"backend": 0.0, "server": 0.0}
    for pid, (kind, cpu) in b["pg"].items():
        pg[kind] += cpu - a["pg"].get(pid, (kind, 0.0))[1]
    out = {
        "recorders": sum(b["recorders"][p] - a["recorders"][p] for p in b["recorders"]),
        "pg_backends": pg["backend"],
        "pg_other": pg["server"],
        "redis": b["redis"] - a["redis"],
        "bench": b["me"] - a["me"],
        "machine": b["machine"] - a["machine"],
    }
    known = out["recorders"] + pg["backend"] + pg["server"] + out["redis"] + out["bench"]
    out["other"] = max(0.0, out["machine"] - known)
    return out


_STATEMENTS = """
SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 72), calls, total_exec_time, shared_blks_hit
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '%%pg_stat_statements%%'
ORDER BY total_exec_time DESC LIMIT 8
"""


def statements(url: str, transitions: int, reset: bool = False) -> list[dict[str, Any]]:
    """The dearest statements since the last reset (nested ones too: track = all), per
    transition: wall time (lock waits included) and shared buffers hit."""
    with psycopg.connect(url, autocommit=True) as conn:
        if reset:
            conn.execute("SELECT pg_stat_statements_reset()")
            return []
        rows = conn.execute(_STATEMENTS).fetchall()
    return [
        {
            "query": q,
            "calls": calls,
            "us_per_transition": round(ms * 1000 / transitions, 1),
            "buffer_hits_per_transition": round(hits / transitions, 1),
        }
        for q, calls, ms, hits in rows
    ]


def _spawn(srv: Servers, i: int, args: Any, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "bench.drain.child", "--redis", srv.redis_url]
    cmd += ["--db", srv.sa_url, "--consumer", f"drain-{i}", "--batch", str(args.batch)]
    cmd += ["--block-ms", str(args.block_ms), "--window-ms", str(args.window_ms)]
    if getattr(args, "backlog_batch", None):
        cmd += ["--backlog-batch", str(args.backlog_batch)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError(f"recorder {i} did not start (log: {stderr.name})")
    return proc


def _send(proc: subprocess.Popen[bytes], line: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line)
    proc.stdin.flush()


def _wait_drained(r: redis.Redis, procs: list[subprocess.Popen[bytes]], stall_s: float) -> None:
    last, since = -1, time.monotonic()
    while True:
        pipe = r.pipeline(transaction=False)
        pipe.xlen(STREAM)
        pipe.xpending(STREAM, "recorders")
        length, pending = pipe.execute()
        left = int(length) + int(pending["pending"])
        if left == 0:
            return
        if left != last:
            last, since = left, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise RuntimeError(f"no progress for {stall_s:.0f}s, {left} entries left")
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a recorder process exited during the drain")
        time.sleep(0.02)


def drain(srv: Servers, traffic: Traffic, recorders: int, args: Any, label: str) -> dict[str, Any]:
    r = redis.Redis.from_url(srv.redis_url)
    reset_stream(r)
    with psycopg.connect(srv.pg_url, autocommit=True) as conn:
        # Same start for every run: the previous run's dead row versions vacuumed (its
        # updates), statistics current, dirty pages written.
        conn.execute("VACUUM (ANALYZE) agent_executions, agent_instances")
        conn.execute("CHECKPOINT")
        sizes = conn.execute(
            "SELECT (SELECT count(*) FROM agent_executions), pg_total_relation_size("
            "'agent_executions'), pg_total_relation_size('agent_execution_events')"
        ).fetchone()
    assert sizes is not None
    before = verify.counts(srv.pg_url)
    upd_before = _updates(srv.pg_url)
    redis_before = (proc_stat(srv.redis_pid) or (0, 0.0, 0.0))[1]
    t = time.monotonic()
    fill(r, traffic)
    fill_s = time.monotonic() - t
    fill_redis_cpu = (proc_stat(srv.redis_pid) or (0, 0.0, 0.0))[1] - redis_before
    if args.pg_stat_statements:
        statements(srv.pg_url, 1, reset=True)
    procs: list[subprocess.Popen[bytes]] = []
    log = (srv.logs / f"{label}-{recorders}.log").open("wb")
    try:
        procs = [_spawn(srv, i, args, log) for i in range(recorders)]
        time.sleep(0.5)  # the children's start-up settles
        a = _snapshot(srv, [p.pid for p in procs])
        for p in procs:
            _send(p, b"go\n")
        _wait_drained(r, procs, args.stall_seconds)
        b = _snapshot(srv, [p.pid for p in procs])
        stats = []
        for p in procs:
            _send(p, b"stop\n")
            assert p.stdout is not None
            stats.append(orjson.loads(p.stdout.readline()))
            p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        log.close()
    end = max(s["last_batch_monotonic"] for s in stats)
    seconds = end - a["t"]
    cpu = _cpu_delta(a, b)
    top = statements(srv.pg_url, traffic.transitions) if args.pg_stat_statements else []
    upd_after = _updates(srv.pg_url)  # the recorders' connections closed: their stats flushed
    figures, failures = verify.check(srv.pg_url, r, traffic, before, stats)
    warnings = sum(
        1
        for line in (srv.logs / f"{label}-{recorders}.log").read_text().splitlines()
        if line.startswith(("WARNING", "ERROR"))
    )
    n = traffic.transitions
    per_tr = {k: round(v / n * 1e6, 2) for k, v in cpu.items()}
    r.close()
    return {
        "tables": label,
        "recorders": recorders,
        "executions_before": int(sizes[0]),
        "executions_mb_before": round(int(sizes[1]) / 2**20),
        "history_mb_before": round(int(sizes[2]) / 2**20),
        "tasks": len(traffic.expected),
        "transitions": n,
        "entries": len(traffic.entries),
        "seconds": round(seconds, 3),
        "transitions_per_s": round(n / seconds),
        "tasks_per_s": round(len(traffic.expected) / seconds),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_us_per_transition": per_tr,
        "pg_us_per_transition": round(per_tr["pg_backends"] + per_tr["pg_other"], 2),
        "batches": sum(s["batches"] for s in stats),
        "entries_per_recorder": [s["entries"] for s in stats],
        "recorder_warnings": warnings,
        "fill_s": round(fill_s, 1),
        "fill_redis_us_per_entry": round(fill_redis_cpu / len(traffic.entries) * 1e6, 2),
        "statements": top,
        "executions_updates": upd_after[0] - upd_before[0],
        "executions_hot_updates": upd_after[1] - upd_before[1],
        "checks": figures,
        "failures": failures,
    }


def _updates(url: str) -> tuple[int, int]:
    """(updates, HOT updates) of agent_executions so far (pg_stat_user_tables)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = 'agent_executions'"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
