"""The real ``celery -A workers.app beat`` process with short periods, and a worker
consuming its queue: system_health and agent_metrics rows appear."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore
from tests.support.workers import ROOT, WorkerProcess, wait_for

pytestmark = pytest.mark.slow

FAST = {
    "AGENTQ_METRICS_PERIOD_MINUTES": "1",
    "AGENTQ_METRICS_INTERVAL_SECONDS": "1",
    "AGENTQ_HEALTH_INTERVAL_SECONDS": "1",
    "AGENTQ_REAPER_INTERVAL_SECONDS": "2",
    "AGENTQ_RETENTION_INTERVAL_SECONDS": "5",
}


@pytest.fixture
def beat(clean: str) -> Iterator[subprocess.Popen[bytes]]:
    workdir = Path(tempfile.mkdtemp(prefix="agentq-beat-"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "-l",
            "info",
            "-s",
            str(workdir / "schedule"),
        ],
        cwd=ROOT,
        env={**os.environ, **FAST},
        stdout=(workdir / "beat.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(20)


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _wait_or_dump(worker: WorkerProcess, done: Any, what: str) -> None:
    """Wait up to 60 s for ``done()``; on a timeout, show the worker's log."""
    try:
        wait_for(done, 60, what=what)
    except AssertionError:
        print(worker.output()[-4000:])
        raise


def test_beat_writes_health_and_metrics(clean: str, beat: subprocess.Popen[bytes]) -> None:
    # Ten executions completed in a closed one-minute period three minutes ago.
    store = SQLStore(clean, pool_size=1)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    transitions = []
    for i in range(10):
        tid = str(uuid.uuid4())
        for status, sec, worker in (
            ("queued", 1, None),
            ("running", 2, "beat-w@h"),
            ("completed", 3 + i, "beat-w@h"),
        ):
            transitions.append(
                Transition(
                    uuid.uuid4(),
                    tid,
                    TaskStatus(status),
                    0,
                    start + timedelta(seconds=sec),
                    "quiz_generator",
                    "quiz",
                    worker,
                    result={"execution_time_seconds": 1.0, "quality_score": 0.5}
                    if status == "completed"
                    else None,
                )
            )
    store.record(transitions)
    store.close()
    health_rows = "SELECT count(*) FROM system_health"
    type_metrics = (
        "SELECT coalesce(sum(tasks_completed), 0) FROM agent_metrics "
        "WHERE agent_instance_id IS NULL AND agent_type = 'quiz_generator'"
    )
    with WorkerProcess("beat-worker", concurrency=1, env=FAST) as worker:
        _wait_or_dump(worker, lambda: _count(clean, health_rows) >= 2, "system_health rows")
        _wait_or_dump(worker, lambda: _count(clean, type_metrics) == 10, "agent_metrics rows")
    assert beat.poll() is None  # beat kept running
