"""Real ``celery -A workers.app worker`` subprocesses for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


class WorkerProcess:
    """A Celery worker subprocess (prefork by default) with the test tasks loaded
    (``include``: the modules it imports besides ``workers.app``; ``()`` for a worker
    started as production starts it)."""

    def __init__(
        self,
        name: str,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        queues: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        loglevel: str | None = "info",
        include: tuple[str, ...] = ("tests.support.tasks",),
    ) -> None:
        self.name = name
        self.hostname = f"{name}@agentq-test"
        self.log = Path(tempfile.mkstemp(prefix=f"worker-{name}-", suffix=".log")[1])
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            *(["-l", loglevel] if loglevel else []),  # None: the default (LOG_LEVEL)
            "-n",
            self.hostname,
            "-P",
            pool,
            "-c",
            str(concurrency),
            *(["-I", ",".join(include)] if include else []),
            "--without-mingle",
            "--without-gossip",
        ]
        if queues:
            args += ["-Q", queues]
        args += extra_args or []
        self.args = args
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: b" ready." in self.log.read_bytes() or self._died(),
                timeout,
                what=f"worker {self.name} to be ready",
            )
        except AssertionError:
            self.kill()  # never left running: `with` does not stop what failed to start
            raise
        if self._died():
            raise RuntimeError(f"worker {self.name} exited:\n{self.output()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool children, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
