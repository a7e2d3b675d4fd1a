"""LOG_FORMAT=json (workers/log_json.py) in real processes: a prefork worker with its pool
and recorder child, beat, ``agentq serve``, ``agentq realtime`` and a CLI command. Every
line they write is one JSON object with time, level, logger and message; a task's lines
carry its task_id and agent_type, the worker's its hostname, a failing task's its
traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import send_test_task, wait_terminal
from tests.support.servers import free_port
from tests.support.workers import WorkerProcess, wait_for

ROOT = Path(__file__).resolve().parents[2]
JSON = {"LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
FIELDS = ("time", "level", "logger", "message")


def json_lines(text: str, what: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object with the four fields (no other line)."""
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            tail = text[-3000:]
            raise AssertionError(f"{what}: line {n} is not JSON: {line!r}\n{tail}") from None
        assert isinstance(rec, dict), f"{what}: line {n} is not an object: {line!r}"
        missing = [f for f in FIELDS if not rec.get(f)]
        assert not missing, f"{what}: line {n} lacks {missing}: {line!r}"
        assert datetime.fromisoformat(rec["time"]).utcoffset() is not None, line
        records.append(rec)
    assert records, f"{what} wrote nothing"
    return records


def about(records: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("task_id") == task_id]


def test_worker_pool_and_recorder_lines_are_json(clean: str) -> None:
    worker = WorkerProcess("jsonlogs", concurrency=1, env=JSON)
    with worker:
        ok, chatty, boom = send_test_task("noop"), send_test_task("chatty"), send_test_task("boom")
        for task_id in (ok, chatty, boom):
            wait_terminal(task_id, timeout=90)
        wait_for(lambda: boom in worker.output(), 30, what="the failure's line")
    records = json_lines(worker.output(), "the worker")  # after its warm shutdown

    assert all(r.get("worker") == worker.hostname for r in records), [
        r for r in records if r.get("worker") != worker.hostname
    ][:3]
    # The main process (received), the pool process (inside the task) and the recorder child.
    messages = " | ".join(r["message"] for r in records)
    assert " ready." in messages and "recorder" in messages, messages[:2000]
    assert any(r["logger"] == "workers.recording.recorder" for r in records), messages[:2000]
    assert any("shutdown" in r["message"] for r in records), messages[-2000:]  # safe_say

    for task_id in (ok, chatty, boom):
        lines = about(records, task_id)
        assert lines, f"no line carries task {task_id}"
        assert all(r["agent_type"] == "content_generator" for r in lines), lines
        assert all("data" not in r for r in lines), lines  # no task arguments in a log
    inside = about(records, chatty)
    assert any(r["message"] == "chatty: a line from inside the task" for r in inside), inside
    assert any(r["message"] == "chatty: printed by the task" for r in inside), inside

    failed = [r for r in about(records, boom) if r.get("exception")]
    assert failed, about(records, boom)
    assert failed[0]["level"] == "ERROR"
    assert "Traceback" in failed[0]["exception"]
    assert "RuntimeError: boom: the handler failed" in failed[0]["exception"]


def test_beat_lines_are_json(clean: str) -> None:
    schedule = Path(tempfile.mkdtemp(prefix="agentq-beat-")) / "schedule"
    log = schedule.with_name("beat.log")
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-s", str(schedule)],
            cwd=ROOT,
            env={**os.environ, **JSON, "LOG_LEVEL": "DEBUG"},
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: b"Sending due task" in log.read_bytes() or proc.poll() is not None,
            90,
            what="beat to send a task",
        )
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)
    records = json_lines(log.read_text(), "beat")
    assert any(r["logger"] == "celery.beat" for r in records), records[:5]
    assert not any("worker" in r or "task_id" in r for r in records), records[:5]


def _serve(env: dict[str, str]) -> str:
    """Run ``agentq serve``, GET /healthz once, stop it; its whole output."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answered() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30):
                    return True
            except urllib.error.HTTPError:  # 503 (no worker online) is an answer
                return True
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                return False

        wait_for(answered, 60, 0.2, "agentq serve to answer /healthz")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    return out


def test_agentq_serve_lines_are_json(clean: str) -> None:
    records = json_lines(_serve(JSON), "agentq serve")
    assert any("listening on http://" in r["message"] for r in records), records
    assert any("GET /healthz" in r["message"] for r in records), records


def _agentq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_logs_and_errors_are_json(clean: str) -> None:
    health = _agentq("health", "--json", env={**JSON, "LOG_LEVEL": "DEBUG"})
    assert json.loads(health.stdout)["status"]  # the command's output is untouched
    records = json_lines(health.stderr, "agentq health")
    assert any(r["logger"] == "workers.logs" and r["level"] == "DEBUG" for r in records)

    # An error a command reports is a JSON line too, at ERROR, whatever the level.
    missing = _agentq("status", "no-such-task", env={**JSON, "LOG_LEVEL": "CRITICAL"})
    assert missing.returncode == 3, missing
    (line,) = json_lines(missing.stderr, "agentq status")
    assert line["level"] == "ERROR" and "no-such-task" in line["message"], line

    # agentq realtime without its settings: its refusal is a JSON line.
    realtime = _agentq("realtime", env=JSON)  # no PUSHER_* set
    assert realtime.returncode != 0
    assert any(r["level"] == "ERROR" for r in json_lines(realtime.stderr, "agentq realtime"))


def test_agentq_realtime_lines_are_json(clean: str) -> None:
    """The bridge running (Pusher on a port nobody listens on: it is not asked for anything
    until a row changes), logging its counters, then stopped."""
    pusher = {"PUSHER_APP_ID": "1", "PUSHER_KEY": "k", "PUSHER_SECRET": "s"}
    pusher |= {"PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": str(free_port()), "PUSHER_SSL": "false"}
    log = Path(tempfile.mkstemp(prefix="agentq-realtime-", suffix=".log")[1])
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "realtime", "--status-every", "0.5"],
            cwd=ROOT,
            env={**os.environ, **JSON, **pusher},
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: b"realtime status" in log.read_bytes() or proc.poll() is not None,
            120,
            what="the bridge to log its counters",
        )
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    records = json_lines(log.read_text(), "agentq realtime")
    assert any("realtime: listening" in r["message"] for r in records), records
    assert any(r["message"].startswith("realtime stopped") for r in records), records


@pytest.mark.parametrize("value", ["xml", "JSON lines"])
def test_bad_log_format_is_named(value: str) -> None:
    out = _agentq("health", env={"LOG_FORMAT": value})
    assert out.returncode != 0
    assert "LOG_FORMAT" in out.stdout + out.stderr and "'text' or 'json'" in out.stdout + out.stderr
