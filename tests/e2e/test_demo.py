"""``agentq demo`` end to end: on embedded services, on the test's real services, and
interrupted; the summary is checked against the database, and nothing is left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from tests.support.workers import ROOT, wait_for
from workers.demo.embedded import start_embedded

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

N_TASKS = 9  # one of each kind of the pattern, plus all eight agent types


def _demo_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    return env


def _run_demo(env: dict[str, str]) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", "demo", "--tasks", str(N_TASKS), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(json.loads(res.stdout))


def _alive(pids: dict[str, list[int]]) -> list[int]:
    out = []
    for pid in (p for group in pids.values() for p in group):
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _check_against_db(summary: dict[str, Any], conninfo: str) -> None:
    sid = summary["session_id"]
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT agent_type::text, status::text, retry_count FROM agent_executions"
            " WHERE session_id = %s",
            (sid,),
        ).fetchall()
        metric_rows = conn.execute(
            "SELECT agent_type::text, sum(total_tasks), sum(tasks_failed) FROM agent_metrics"
            " WHERE agent_instance_id IS NULL AND period_duration_minutes = 1 GROUP BY 1"
        ).fetchall()
    assert len(rows) == summary["total"] == summary["enqueued"] == N_TASKS
    by_status = Counter(status for _, status, _ in rows)
    assert dict(by_status) == summary["by_status"] == summary["expected_by_status"]
    assert by_status["failed"] >= 2 and by_status["completed"] >= 7
    by_type: dict[str, dict[str, int]] = {}
    for agent_type, status, _ in rows:
        by_type.setdefault(agent_type, {}).setdefault(status, 0)
        by_type[agent_type][status] += 1
    assert by_type == summary["by_agent_type"]
    assert len(by_type) == 8  # every agent type ran
    assert sum(1 for *_, retries in rows if retries > 0) == summary["retried"] >= 2
    # Beat aggregated every execution of the run into one-minute per-type rows.
    per_type = Counter(agent_type for agent_type, _, _ in rows)
    assert {t: int(total) for t, total, _ in metric_rows} == dict(per_type)
    shown = {(m["agent_type"], m["total_tasks"]) for m in summary["metrics"]}
    assert sum(n for _, n in shown) >= 1
    # Timelines: a plain completion, a retried completion, a failure.
    kinds = [(t["status"], t["retry_count"] > 0) for t in summary["timelines"]]
    assert kinds == [("completed", False), ("completed", True), ("failed", True)]


def test_demo_on_embedded_services(tmp_path: Path) -> None:
    env = _demo_env(AGENTQ_DATA_DIR=str(tmp_path))
    for name in ("CELERY_BROKER_URL", "DATABASE_URL"):
        env.pop(name)
    summary = _run_demo(env)
    assert summary["services"]["embedded_postgres"] and summary["services"]["embedded_redis"]
    assert set(summary["pids"]) == {"worker", "beat", "postgres", "redis"}
    assert len(summary["pids"]["worker"]) == 4  # main, two pool processes, the recorder
    assert _alive(summary["pids"]) == []
    assert (tmp_path / "embedded" / "postgres" / "PG_VERSION").exists()
    # The data stays: start the same PostgreSQL again and read the record back.
    with start_embedded(tmp_path / "embedded", postgres=True, redis=False) as services:
        assert services.database_url is not None
        _check_against_db(summary, services.database_url)


def test_demo_on_the_configured_services(clean: str) -> None:
    summary = _run_demo(_demo_env())
    assert not summary["services"]["embedded_postgres"]
    assert not summary["services"]["embedded_redis"]
    assert set(summary["pids"]) == {"worker", "beat"}
    assert _alive(summary["pids"]) == []
    _check_against_db(summary, clean.replace("+psycopg", ""))


def test_interrupted_demo_stops_everything(tmp_path: Path) -> None:
    env = _demo_env(AGENTQ_DATA_DIR=str(tmp_path))
    for name in ("CELERY_BROKER_URL", "DATABASE_URL"):
        env.pop(name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "demo", "--tasks", "2000", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    log = tmp_path / "demo" / "worker.log"
    try:
        wait_for(lambda: log.exists() and b" ready." in log.read_bytes(), 120, what="demo worker")
        started = psutil.Process(proc.pid).children(recursive=True)
        postmaster = int(
            (tmp_path / "embedded" / "postgres" / "postmaster.pid").read_text().split()[0]
        )
        pids = {"children": [p.pid for p in started], "postgres": [postmaster]}
        assert len(pids["children"]) >= 5  # redis, worker and its pool, beat
        time.sleep(1)  # some tasks in flight
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"interrupted" in err
    assert _alive(pids) == []
