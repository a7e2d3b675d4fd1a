"""LOG_LEVEL and SUPABASE_DEBUG (workers/logs.py) in real processes: ``agentq`` commands,
a Celery worker (and its recorder child) and beat; a level on the command line wins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.servers import free_port
from tests.support.workers import WorkerProcess, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _serve_and_get(env: dict[str, str], *options: str) -> str:
    """Run ``agentq serve``, GET /healthz once, stop it; its whole log."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port), *options],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answered() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30):
                    return True
            except urllib.error.HTTPError:  # 503: no worker online is unhealthy; it answered
                return True
            except OSError:
                assert proc.poll() is None, proc.communicate()[0]
                return False

        wait_for(answered, 60, 0.2, "agentq serve to answer /healthz")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    return out


def test_agentq_serve_follows_log_level(clean: str) -> None:
    debug = _serve_and_get({"LOG_LEVEL": "DEBUG"})
    assert "DEBUG workers.logs: log level DEBUG" in debug
    assert "INFO workers.serve.server" in debug and "GET /healthz" in debug

    quiet = _serve_and_get({"LOG_LEVEL": "WARNING"})
    assert "listening on" in quiet  # the command ran and answered
    assert " INFO " not in quiet and " DEBUG " not in quiet and "GET /healthz" not in quiet

    # The command's own option wins over LOG_LEVEL.
    chosen = _serve_and_get({"LOG_LEVEL": "WARNING"}, "--log-level", "info")
    assert "GET /healthz" in chosen and " DEBUG " not in chosen


def _health(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "health", "--json"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.lstrip().startswith("{"), out.stderr  # logs never reach --json output
    return out.stderr


def test_supabase_debug_is_debug_for_supabase_loggers_only(clean: str) -> None:
    on = _health({"LOG_LEVEL": "WARNING", "SUPABASE_DEBUG": "true"})
    assert "DEBUG workers.health.supabase: supabase: REST API not configured" in on
    assert "workers.logs" not in on  # everything else stays at WARNING
    off = _health({"LOG_LEVEL": "WARNING"})
    assert "DEBUG" not in off
    debug = _health({"LOG_LEVEL": "DEBUG"})
    assert "DEBUG workers.logs: log level DEBUG, supabase debug off" in debug


def _recorder_args(worker: WorkerProcess) -> list[str]:
    for pid in worker.children():
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        if "workers.recording.recorder_process" in args:
            return args
    raise AssertionError("the worker has no recorder child")


def test_worker_log_level_default_and_command_line(clean: str) -> None:
    with WorkerProcess("loglevel-env", loglevel=None, env={"LOG_LEVEL": "DEBUG"}) as w:
        assert "DEBUG/MainProcess" in w.output()
        args = _recorder_args(w)
        assert args[args.index("--log-level") + 1] == "DEBUG"

    # -l on the command line wins over LOG_LEVEL.
    with WorkerProcess("loglevel-cli", loglevel="info", env={"LOG_LEVEL": "DEBUG"}) as w:
        args = _recorder_args(w)
        assert args[args.index("--log-level") + 1] == "INFO"
    assert "DEBUG/" not in w.output()


def test_beat_log_level(clean: str) -> None:
    schedule = Path(tempfile.mkdtemp(prefix="agentq-beat-")) / "schedule"
    log = schedule.with_name("beat.log")
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-s", str(schedule)],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"},
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: b"DEBUG/MainProcess" in log.read_bytes() or proc.poll() is not None,
            60,
            what="beat to log at DEBUG",
        )
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)
