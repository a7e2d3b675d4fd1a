"""Flower on our app as is: a real worker, ``celery -A workers.app flower``, agent tasks.

The worker starts with task events off (the default); Flower switches them on.

Flower's API lists the worker and the tasks by their agent names with arguments and
results, ``/metrics`` counts their events, and headless Chromium renders the tasks page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.workers import ROOT, WorkerProcess, wait_for
from workers.producer import enqueue, get_execution

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

AGENTS = ("quiz_generator", "terrain_generator", "code_reviewer")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def flower(clean: str) -> Iterator[str]:
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="flower-", suffix=".log")[1])
    env = {**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}
    args = [sys.executable, "-m", "celery", "-A", "workers.app", "flower"]
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [*args, "--address=127.0.0.1", f"--port={port}"],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthcheck", timeout=2).ok
        except requests.ConnectionError:
            return proc.poll() is not None

    try:
        wait_for(up, 60, what="flower to listen")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _run_agent_tasks() -> list[str]:
    from tasks.registry import get_spec

    ids = []
    for agent_type in AGENTS:
        spec = get_spec(agent_type)
        ids.append(enqueue(agent_type, spec.example_task_type, spec.example, session_id="flower"))
    for tid in ids:
        wait_for(
            lambda tid=tid: (get_execution(tid) or {}).get("status") == "completed",
            60,
            what=f"task {tid} to complete",
        )
    return ids


def test_flower_lists_workers_and_agent_tasks(flower: str) -> None:
    with WorkerProcess("flower") as worker:
        # Flower learns about workers from their events; wait until it has ours.
        wait_for(
            lambda: (
                worker.hostname
                in requests.get(f"{flower}/api/workers?refresh=1", timeout=30).json()
            ),
            60,
            what="flower to see the worker",
        )
        # Task events are off by default (AGENTQ_TASK_EVENTS): Flower's enable_events
        # broadcast (every 5 s) switches them on in the running worker, which says so.
        wait_for(
            lambda: "Events of group {task} enabled by remote" in worker.output(),
            60,
            what="the worker to switch its task events on at Flower's request",
        )
        ids = _run_agent_tasks()

        def tasks() -> dict[str, Any]:
            data = requests.get(f"{flower}/api/tasks", timeout=10).json()
            done = all(data.get(t, {}).get("state") == "SUCCESS" for t in ids)
            return data if done else {}

        listed = wait_for(tasks, 30, what="flower to list the tasks as succeeded")
        for tid, agent_type in zip(ids, AGENTS, strict=True):
            task = listed[tid]
            assert task["name"] == f"agents.{agent_type}"
            assert task["worker"] == worker.hostname
            assert "input_data" in task["kwargs"] and "session_id" in task["kwargs"]
            # The result's repr starts with the quality score, so truncation keeps it.
            assert task["result"].startswith("{'quality_score': ")
        queues = requests.get(f"{flower}/api/workers?refresh=1", timeout=30).json()
        active = {q["name"] for q in queues[worker.hostname]["active_queues"]}
        assert set(AGENTS) <= active

        metrics = requests.get(f"{flower}/metrics", timeout=10).text
        for agent_type in AGENTS:
            line = next(
                (
                    ln
                    for ln in metrics.splitlines()
                    if ln.startswith("flower_events_total{")
                    and f'task="agents.{agent_type}"' in ln
                    and 'type="task-succeeded"' in ln
                ),
                None,
            )
            assert line is not None, f"no task-succeeded count for {agent_type}"
            assert float(line.rsplit(" ", 1)[1]) >= 1
        _screenshot_tasks_page(flower, worker.hostname)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing under CI (.ci/run installs the Debian package)")
        pytest.skip("needs chromium for the screenshot (apt-get install chromium)")
    return found


def _screenshot_tasks_page(flower: str, hostname: str) -> None:
    from PIL import Image

    chromium = _chromium()
    shot = Path(tempfile.mkdtemp(prefix="flower-shot-")) / "tasks.png"
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    # The tasks table is filled by JavaScript: give it virtual time to load.
    common += ["--virtual-time-budget=8000", "--window-size=1280,900"]
    dom = subprocess.run(
        [*common, "--dump-dom", f"{flower}/tasks"], capture_output=True, text=True, timeout=90
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "agents.quiz_generator" in dom.stdout and hostname in dom.stdout
    res = subprocess.run(
        [*common, f"--screenshot={shot}", f"{flower}/tasks"], capture_output=True, timeout=90
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 900)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20  # not a blank page
