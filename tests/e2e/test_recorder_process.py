"""The embedded recorder runs as a child process of the worker: it records, drains on a
warm shutdown (the instances' offline event included), and stops by itself when the
worker is SIGKILLed (it lives in its own session, so the kill does not reach it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import send_test_task
from tests.support.database import libpq_url
from tests.support.workers import WorkerProcess, wait_for

pytestmark = pytest.mark.slow


def _recorder_children(w: WorkerProcess) -> list[int]:
    out = []
    for pid in w.children():
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes() if os.path.exists(f"/proc/{pid}") else b""
        )
        if b"workers.recording.recorder_process" in cmdline:
            out.append(pid)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def _rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def test_recorder_child_records_and_drains_on_warm_shutdown(clean: str) -> None:
    w = WorkerProcess("recproc").start()
    try:
        [child] = wait_for(lambda: _recorder_children(w), what="the recorder child")
        task_id = send_test_task("noop", {"n": 1})
        wait_for(
            lambda: _rows(
                clean,
                "SELECT 1 FROM agent_executions WHERE task_id = %s AND status = 'completed'",
                task_id,
            ),
            what="the task recorded as completed",
        )
    finally:
        w.stop()
    assert w.proc is not None and w.proc.returncode == 0, w.output()[-3000:]
    assert not _alive(child)
    # The offline event was emitted after the pool stopped and written by the draining child.
    statuses = _rows(
        clean, "SELECT DISTINCT status::text FROM agent_instances WHERE worker = %s", w.hostname
    )
    assert statuses == [("offline",)]


def test_recorder_child_stops_when_the_worker_is_killed(clean: str) -> None:
    w = WorkerProcess("recproc-kill").start()
    [child] = wait_for(lambda: _recorder_children(w), what="the recorder child")
    w.kill()  # SIGKILL to the worker's process group: the child is not in it
    wait_for(lambda: not _alive(child), timeout=15, what="the orphaned recorder to exit")
