"""A worker that holds messages and gets nowhere is unhealthy, by name (issue 20, item 1).

Whatever stalls it (pool slots lost, pool processes stopped, its event loop stuck), a
stalled worker stays online: its recorder heartbeats from a process of its own. Here
its pool processes are stopped (SIGSTOP) while tasks arrive: it takes them and runs
none. ``agentq health`` and ``/healthz`` must name it as stalled, and once the pool
processes go on (SIGCONT) and the tasks complete, call the system healthy again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.conftest import send_test_task
from tests.support.served import Served
from tests.support.workers import ROOT, WorkerProcess, wait_for
from workers.producer import get_execution

pytestmark = pytest.mark.slow

ENV = {"AGENTQ_WORKER_STALL_SECONDS": "3"}


def _health() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "health", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **ENV},
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _stall_reasons(report: dict[str, Any]) -> list[str]:
    return [r for r in report["reasons"] if " stalled: " in r and r.startswith("worker ")]


def _pool_processes(w: WorkerProcess) -> list[int]:
    """The worker's prefork children (not its recorder process)."""
    out = []
    for pid in w.children():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"workers.recording.recorder_process" not in cmdline:
            out.append(pid)
    return out


def _completed(task_id: str) -> bool:
    rec = get_execution(task_id)
    return rec is not None and rec["status"] == "completed"


def test_a_worker_holding_messages_without_progress_is_unhealthy_by_name(
    clean: str, redis_client: redis.Redis
) -> None:
    served = Served(ENV)
    # Every queue consumed: nothing but the stall can make the verdict unhealthy.
    w = WorkerProcess("stall", concurrency=2, env=ENV)
    pool: list[int] = []
    try:
        w.start(timeout=60)
        wait_for(
            lambda: (
                w.hostname
                in (_health()["components"]["workers"].get("progress") or {}).get("workers", {})
            ),
            60,
            what="the worker's first progress report",
        )
        pool = _pool_processes(w)
        assert len(pool) == 2, pool
        for pid in pool:
            os.kill(pid, signal.SIGSTOP)
        tasks = [send_test_task("noop") for _ in range(3)]
        report = wait_for(
            lambda: (r := _health()) and _stall_reasons(r) and r,
            90,
            what="health to call the worker stalled",
        )
        assert report["status"] == "unhealthy", report["reasons"]
        (reason,) = _stall_reasons(report)
        assert reason.startswith(f"worker {w.hostname} stalled: holds "), reason
        assert report["components"]["workers"]["stalled"][0]["worker"] == w.hostname
        code, body = served.request("/healthz")
        assert code == 503 and body["status"] == "unhealthy", (code, body)
        assert any(r.startswith(f"worker {w.hostname} stalled") for r in body["reasons"]), body
        for pid in pool:
            os.kill(pid, signal.SIGCONT)
        pool = []
        wait_for(lambda: all(_completed(t) for t in tasks), 90, what="the held tasks to run")
        report = wait_for(
            lambda: (r := _health()) and not _stall_reasons(r) and r,
            60,
            what="the stall to clear",
        )
        assert report["status"] == "healthy", report["reasons"]
        code, body = served.request("/healthz")
        assert code == 200 and body["status"] == "healthy", (code, body)
    except BaseException:
        print(w.output()[-6000:])
        raise
    finally:
        for pid in pool:
            os.kill(pid, signal.SIGCONT)
        w.stop(timeout=30)
        served.stop()


def test_a_worker_whose_main_process_stops_is_unhealthy_by_name(
    clean: str, redis_client: redis.Redis
) -> None:
    """Its event loop stopped (SIGSTOP to the main process; its recorder process goes on
    heartbeating, so it stays online): no progress report for the period → stalled."""
    w = WorkerProcess("frozen", concurrency=1, env=ENV)
    stopped = False
    try:
        w.start(timeout=60)
        wait_for(
            lambda: (
                w.hostname
                in (_health()["components"]["workers"].get("progress") or {}).get("workers", {})
            ),
            60,
            what="the worker's first progress report",
        )
        assert w.proc is not None
        os.kill(w.proc.pid, signal.SIGSTOP)
        stopped = True
        report = wait_for(
            lambda: (r := _health()) and _stall_reasons(r) and r,
            90,
            what="health to call the worker stalled",
        )
        (reason,) = _stall_reasons(report)
        assert reason.startswith(f"worker {w.hostname} stalled: no report for "), reason
        assert report["status"] == "unhealthy", report["reasons"]
        os.kill(w.proc.pid, signal.SIGCONT)
        stopped = False
        wait_for(lambda: not _stall_reasons(_health()), 60, what="the stall to clear")
    except BaseException:
        print(w.output()[-6000:])
        raise
    finally:
        if stopped and w.proc is not None:
            os.kill(w.proc.pid, signal.SIGCONT)
        w.stop(timeout=30)
