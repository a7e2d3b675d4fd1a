"""A new user's first hour, end to end from a fresh virtual environment (issue 25):
``pip install -e .`` of this repository into a new venv, then with ``DATABASE_URL`` /
``CELERY_BROKER_URL`` unset and no setting typed: ``agentq demo --keep`` → ``agentq status``
of an id it printed → ``agentq up --worker --page`` (the page answers with the printed
token) → ``agentq enqueue`` run by that worker → ``agentq down`` leaves no process.

A pytest test rather than a ``.ci/`` step: the state directory is the test's own
(``tmp_path``), ``agentq down`` runs in a finalizer whatever fails, and CI runs it with the
rest of the suite (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.workers import ROOT, wait_for
from workers.local.state import State

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PAGE_PORT = 27421  # this task's throwaway range


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", str(ROOT)]
    res = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return where


@pytest.fixture
def state_dir(tmp_path: Path, venv: Path) -> Iterator[Path]:
    yield tmp_path
    _agentq(venv, tmp_path, "down", timeout=120)


def _agentq(venv: Path, state: Path, *args: str, timeout: float = 120) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(AGENTQ_STATE_DIR=str(state), AGENTQ_DATA_DIR=str(state / "data"))
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [str(venv / "bin" / "agentq"), *args],
        cwd=state,  # not the repository: what is installed runs
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_demo_keep_then_status_enqueue_and_the_page_from_a_fresh_venv(
    venv: Path, state_dir: Path
) -> None:
    demo = _agentq(venv, state_dir, "demo", "--tasks", "2", "--keep", "--json", timeout=420)
    assert demo.returncode == 0, demo.stderr[-3000:]
    summary = json.loads(demo.stdout)
    assert summary["services"]["kept"] and summary["complete"]
    assert ":***@" not in summary["services"]["database"]  # no password, none shown
    task_id = summary["timelines"][0]["task_id"]

    status = _agentq(venv, state_dir, "status", str(task_id), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["session_id"] == summary["session_id"]

    up = _agentq(venv, state_dir, "up", "--worker", "--page", str(PAGE_PORT), "--json")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert set(info["started"]) == {"worker", "serve"}  # the demo's servers, reused
    token = info["page_url"].split("#token=", 1)[1]
    base = f"http://127.0.0.1:{PAGE_PORT}"
    assert b"agentq" in _get(f"{base}/")[1]
    code, body = _get(f"{base}/api/v1/executions/{task_id}", token)
    assert code == 200 and json.loads(body)["task_id"] == str(task_id)

    enq = _agentq(venv, state_dir, "enqueue", "quiz_generator", "--example")
    assert enq.returncode == 0, enq.stderr
    new_id = enq.stdout.strip()

    def completed() -> bool:
        res = _agentq(venv, state_dir, "status", new_id, "--json")
        return res.returncode == 0 and json.loads(res.stdout)["status"] == "completed"

    wait_for(completed, timeout=180, interval=1, what="the enqueued task completed")

    pids = []
    for proc in State.load(state_dir).procs.values():
        pids.append(proc.pid)
        with contextlib.suppress(psutil.NoSuchProcess):
            pids += [k.pid for k in psutil.Process(proc.pid).children(recursive=True)]
    down = _agentq(venv, state_dir, "down")
    assert down.returncode == 0, down.stderr
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == []
