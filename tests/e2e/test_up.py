"""``agentq up`` / ``agentq down`` and every command on their servers with
``DATABASE_URL`` / ``CELERY_BROKER_URL`` unset: real embedded PostgreSQL and Redis, a real
worker, each test in a state directory of its own (never the user's)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.workers import ROOT, wait_for
from workers.local.state import Proc, State

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def _env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(AGENTQ_STATE_DIR=str(state_dir), AGENTQ_DATA_DIR=str(state_dir / "data"))
    return env


def agentq(state_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=ROOT,
        env=_env(state_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    agentq(tmp_path, "down")  # whatever the test left, stopped


def _all_pids(state_dir: Path) -> list[int]:
    pids = []
    for proc in State.load(state_dir).procs.values():
        pids.append(proc.pid)
        with contextlib.suppress(psutil.NoSuchProcess):
            pids += [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
    return pids


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _status(state_dir: Path, task_id: str) -> dict[str, Any] | None:
    res = agentq(state_dir, "status", task_id, "--json", timeout=60)
    return dict(json.loads(res.stdout)) if res.returncode == 0 else None


def test_up_enqueue_worker_status_down(state_dir: Path) -> None:
    res = agentq(state_dir, "up", "--worker", "--json")
    assert res.returncode == 0, res.stderr
    up = json.loads(res.stdout)
    assert set(up["running"]) == {"postgres", "redis", "worker"} == set(up["started"])
    assert up["database_url"].startswith("postgresql://") and ":***@" not in res.stdout
    # Idempotent: up again starts nothing and prints the exports.
    again = agentq(state_dir, "up")
    assert again.returncode == 0, again.stderr
    assert "already up: postgres, redis, worker" in again.stdout
    assert f"export DATABASE_URL='{up['database_url']}'" in again.stdout
    assert f"export CELERY_BROKER_URL='{up['broker_url']}'" in again.stdout

    enq = agentq(state_dir, "enqueue", "quiz_generator", "--example")
    assert enq.returncode == 0, enq.stderr
    task_id = enq.stdout.strip()
    record = wait_for(
        lambda: (r := _status(state_dir, task_id)) and r["status"] == "completed" and r,
        timeout=120,
        interval=0.5,
        what="the task completed",
    )
    assert record["worker"].startswith("up-")
    text = agentq(state_dir, "status", task_id)
    assert text.returncode == 0 and "completed" in text.stdout
    health = agentq(state_dir, "health")
    assert health.returncode in (0, 5), health.stdout + health.stderr  # healthy or degraded

    pids = _all_pids(state_dir)
    assert len(pids) >= 4  # postgres (+ its children), redis, worker (+ pool)
    down = agentq(state_dir, "down")
    assert down.returncode == 0, down.stderr
    for name in ("worker", "redis", "postgres"):
        assert f"stopped {name}" in down.stdout
    assert _alive(pids) == []
    assert not (state_dir / "state.json").exists()
    # Nothing up now: a command says how to start the servers, in one line.
    res = agentq(state_dir, "status", task_id)
    assert res.returncode == 4
    assert res.stderr.count("\n") == 1 and "agentq up" in res.stderr, res.stderr


@pytest.mark.parametrize(
    "args", [("status", "0b8e4f2a-1111-4111-8111-111111111111"), ("metrics",), ("health",)]
)
def test_nothing_up_names_agentq_up(state_dir: Path, args: tuple[str, ...]) -> None:
    res = agentq(state_dir, *args, timeout=60)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert "not running: start them with `agentq up`" in res.stderr


def test_stale_state_is_detected_and_never_kills_a_stranger(state_dir: Path) -> None:
    # A state whose processes are gone; one pid now belongs to someone else (this test).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stranger = Proc.of(os.getpid())
    stranger.started -= 1000  # same pid, another start time: not ours
    state = State(state_dir, "postgresql://postgres@/x?host=/nonexistent", "redis://127.0.0.1:1/0")
    state.procs = {"postgres": Proc(gone.pid, 1.0), "redis": stranger}
    state.save()
    res = agentq(state_dir, "status", "0b8e4f2a-1111-4111-8111-111111111111", timeout=60)
    assert res.returncode == 4 and "recorded processes are gone" in res.stderr, res.stderr
    down = agentq(state_dir, "down", timeout=60)
    assert down.returncode == 0, down.stderr
    assert "already gone: postgres, redis" in down.stdout and "stopped" not in down.stdout
    assert psutil.pid_exists(os.getpid())
    assert not (state_dir / "state.json").exists()
