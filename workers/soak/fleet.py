"""The soak's processes: a Celery worker (prefork, embedded recorder) per worker host,
beat on the first, producers in their own namespace. Each host has its own
``AGENTQ_DATA_DIR`` (its spool) and log; one may run with its clock ahead (libfaketime).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from workers.routing import agent_queues
from workers.soak.netns import Network


@dataclass
class WorkerHost:
    name: str
    network: Network
    env: dict[str, str]
    workdir: Path
    clock_ahead_s: float = 0.0
    beat: bool = False
    proc: subprocess.Popen[bytes] | None = None
    beat_proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / f"{self.name}.log"
        (self.workdir / self.name).mkdir(parents=True, exist_ok=True)

    @property
    def hostname(self) -> str:
        return f"{self.name}@soak"

    @property
    def own_queue(self) -> str:
        """A queue only this host reads: jobs that must run here."""
        return f"soak.{self.name}"

    def started(self, task_ids: list[str]) -> bool:
        """Whether every one of ``task_ids`` (soak_slow tasks) has begun on this host."""
        marks = self.workdir / self.name / "started"
        return all((marks / t).exists() for t in task_ids)

    def _argv(self, celery_args: list[str]) -> list[str]:
        argv = [sys.executable, "-m", "celery", "-A", "workers.app", *celery_args]
        return self.network.command(self.name, argv)

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "AGENTQ_DATA_DIR": str(self.workdir / self.name)}
        env["PYTHONUNBUFFERED"] = "1"
        if self.clock_ahead_s:
            # libfaketime preloaded directly, not through the `faketime` command: that one
            # shares a semaphore between the processes it starts, and a process SIGKILLed
            # while holding it (the worker-kill fault) froze every timed wait of the
            # survivors (the orphaned recorder never noticed its worker was gone). The
            # monotonic clock moves by the same offset (a constant offset leaves timers
            # right; FAKETIME_DONT_FAKE_MONOTONIC=1 made time.sleep fail with EINVAL).
            env["LD_PRELOAD"] = str(libfaketime())
            env["FAKETIME"] = f"+{self.clock_ahead_s:g}s"
        return env

    def start(self) -> None:
        args = ["worker", "-l", "info", "-n", self.hostname, "-P", "prefork", "-c", "2"]
        args += ["-I", "workers.demo.drills,workers.soak.tasks"]
        args += ["-Q", ",".join([*(q.name for q in agent_queues()), self.own_queue])]
        args += ["--without-mingle", "--without-gossip"]
        self.proc = self._spawn(args, self.log)
        self.starts += 1
        if self.beat and self.beat_proc is None:
            beat_args = ["beat", "-l", "info", "-s", str(self.workdir / "beat-schedule")]
            self.beat_proc = self._spawn(beat_args, self.workdir / "beat.log")

    def _spawn(self, celery_args: list[str], log: Path) -> subprocess.Popen[bytes]:
        """A Celery command in this host's namespace, in its own session, logging to ``log``."""
        with log.open("ab") as fh:
            return subprocess.Popen(
                self._argv(celery_args),
                env=self._env(),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready_count(self) -> int:
        return self.log.read_bytes().count(b" ready.") if self.log.exists() else 0

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_count() >= self.starts:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: see {self.log}")
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} not ready after {timeout:.0f} s: see {self.log}")

    def pool_children(self) -> list[int]:
        """The pool processes (children of the worker's main process, not its recorder)."""
        main = self.main_pid()
        if main is None:
            return []
        out = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True)
        kids = [int(p) for p in out.stdout.split()]
        return [p for p in kids if b"recorder_process" not in _cmdline(p)]

    def main_pid(self) -> int | None:
        """The Celery main process (under ``ip netns exec`` and maybe ``faketime``)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        pids = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True)
        for pid in (int(p) for p in pids.stdout.split()):
            cmd = _cmdline(pid)
            if b"celery" in cmd and b" worker" in cmd.replace(b"\0", b" "):
                parent = _ppid(pid)
                if parent is not None and b"celery" not in _cmdline(parent):
                    return pid
        return None

    def kill(self) -> None:
        """SIGKILL the whole worker (main process, pool, recorder): no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)

    def stop(self, timeout: float = 30.0) -> None:
        for proc in (self.proc, self.beat_proc):
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def libfaketime() -> Path:
    """Debian's libfaketime (package ``faketime``)."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    found += sorted(Path("/usr/lib").glob("faketime/libfaketime.so.1"))
    if not found:
        raise RuntimeError("libfaketime not found: install Debian's faketime package")
    return found[0]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def run_producers(
    network: Network, host: str, env: dict[str, str], plan: Path, workdir: Path, n: int
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """``n`` producer processes in ``host``'s namespace, each publishing its slice."""
    workdir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(n):
        out = workdir / f"published-{i}.txt"
        argv = [sys.executable, "-m", "workers.soak.producer", str(plan), str(out)]
        argv += ["--slice", f"{i}/{n}"]
        with (workdir / f"producer-{i}.log").open("ab") as fh:
            proc = subprocess.Popen(
                network.command(host, argv),
                env={**os.environ, **env},
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append((proc, out))
    return procs
