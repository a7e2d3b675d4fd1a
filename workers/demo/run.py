"""``agentq demo``: the whole system once, on embedded services or on the configured ones.

Without ``DATABASE_URL`` / ``CELERY_BROKER_URL`` in the environment it starts a real
PostgreSQL and a real Redis from pip wheels (``workers.demo.embedded``); with them, it uses
those servers. Then it migrates, starts a worker (with the retry drills loaded) and beat
as subprocesses, enqueues a mixed batch (``workers.demo.batch``), shows progress until
every execution is final, waits for beat to aggregate the demo's metrics period, and
reads the summary back from the database. Whatever happens (an error, Ctrl-C,
SIGTERM) everything it started is stopped before it returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from workers import stores
from workers.demo.embedded import EmbeddedServices
from workers.demo.page import PagePlan, page_url, plan_page
from workers.demo.page import commands as page_commands
from workers.demo.page import describe as page_describe
from workers.demo.services import DemoError, check_broker_now, start_services
from workers.settings import get_settings

# Demo-sized beat periods: one-minute metrics periods, looked at every few seconds.
METRICS_PERIOD_MINUTES = 1
METRICS_INTERVAL_SECONDS = 3


@dataclass
class Child:
    """A Celery subprocess of the demo (worker, beat, Flower), in its own session so
    that Ctrl-C reaches only the demo, which stops its children in order."""

    name: str
    log: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, name: str, argv: list[str], log: Path, env: dict[str, str]) -> Child:
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, log, proc)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-1500:]
            raise DemoError(
                f"{self.name} exited with {self.proc.returncode} (log {self.log}):\n{tail}"
            )

    def pids(self) -> list[int]:
        with contextlib.suppress(psutil.NoSuchProcess):
            kids = psutil.Process(self.proc.pid).children(recursive=True)
            return [self.proc.pid, *(k.pid for k in kids)]
        return [self.proc.pid]

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL the whole process group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # Pool children left behind by a main process that died hard.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class DemoRun:
    """State of one run; ``result()`` is what ``agentq demo --json`` prints."""

    tasks: int
    console: Console
    data_dir: Path = field(default_factory=lambda: get_settings().data_dir)
    session_id: str = field(default_factory=lambda: f"demo-{uuid.uuid4().hex[:8]}")
    services: EmbeddedServices | None = None
    children: list[Child] = field(default_factory=list)
    pids: dict[str, list[int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "demo"


_interrupted = threading.Event()


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", *args]


def _interrupt(signum: int, frame: Any) -> None:
    _interrupted.set()
    raise KeyboardInterrupt(f"signal {signum}")


def _pause(seconds: float) -> None:
    """``time.sleep`` that also ends the demo on a signal whose KeyboardInterrupt was
    lost: raised while a weakref callback or ``__del__`` ran, Python only prints it (the
    interrupted demo then ran to the end under a loaded CI)."""
    if _interrupted.wait(seconds):
        raise KeyboardInterrupt("interrupted")


def run_demo(
    tasks: int,
    console: Console,
    *,
    timeout: float = 300.0,
    flower_port: int | None = None,
    page_port: int | None = None,
    show: bool = True,
    keep: bool = False,
) -> dict[str, Any]:
    """Run the demo; returns the summary (with ``complete`` telling whether every
    execution reached a final state). Raises DemoError, EmbeddedUnavailable,
    DatabaseUnavailable, kombu's OperationalError or KeyboardInterrupt after cleaning up."""
    run = DemoRun(tasks, console)
    _interrupted.clear()
    run.run_dir.mkdir(parents=True, exist_ok=True)
    # SIGINT too: Python leaves it ignored when the parent ignored it (a shell's
    # background job, some CI runners), and Ctrl-C must stop the demo anyway.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        start_services(run, keep)
        page = plan_page(page_port) if page_port is not None else None
        summary = _run_batch(run, timeout, flower_port, page, show)
    finally:
        _shutdown(run)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary["pids"] = run.pids
    summary["services"] = run.info
    return summary


def _child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "AGENTQ_METRICS_PERIOD_MINUTES": str(METRICS_PERIOD_MINUTES),
        "AGENTQ_METRICS_INTERVAL_SECONDS": str(METRICS_INTERVAL_SECONDS),
        "AGENTQ_HEALTH_INTERVAL_SECONDS": "10",
    }


def _start_children(run: DemoRun, flower_port: int | None, page: PagePlan | None) -> None:
    env = _child_env()
    if flower_port is not None:
        # Task events are off by default; Flower's own enable_events comes every 5 s, after
        # the demo's first tasks. On from the start, so Flower shows every demo task.
        env["AGENTQ_TASK_EVENTS"] = "true"
    logs = run.run_dir
    worker_args = ["worker", "-l", "info", "-c", "2", "-n", f"{run.session_id}@%h"]
    worker_args += ["-I", "workers.demo.drills", "--without-mingle", "--without-gossip"]
    beat_args = ["beat", "-l", "info", "-s", str(logs / "celerybeat-schedule")]
    run.children.append(Child.start("worker", _celery(*worker_args), logs / "worker.log", env))
    run.children.append(Child.start("beat", _celery(*beat_args), logs / "beat.log", env))
    if flower_port is not None:
        flower_args = ["flower", "--address=127.0.0.1", f"--port={flower_port}"]
        run.children.append(Child.start("flower", _celery(*flower_args), logs / "flower.log", env))
    for name, argv in page_commands(page) if page else []:
        run.children.append(Child.start(name, argv, logs / f"{name}.log", env))
    worker = run.children[0]
    deadline = time.monotonic() + 60
    with run.console.status("starting worker (2 processes) and beat…"):
        while b" ready." not in worker.log.read_bytes()[-20000:] or not _serving(page):
            for child in run.children:
                child.check()
            if time.monotonic() > deadline:
                late = worker.log if _serving(page) else run.run_dir / "serve.log"
                raise DemoError(f"{late.stem} not ready after 60 s (log {late})")
            _pause(0.2)


def _serving(page: PagePlan | None) -> bool:
    """Whether the page's server accepts connections (True without a page)."""
    if page is None:
        return True
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", page.port), 0.2):
        return True
    return False


def _run_batch(
    run: DemoRun, timeout: float, flower_port: int | None, page: PagePlan | None, show: bool
) -> dict[str, Any]:
    from workers.cli.migrate import apply_migrations
    from workers.demo.batch import enqueue_batch, plan_batch
    from workers.demo.report import collect_summary, metrics_json, print_metrics, print_summary

    settings = get_settings()
    apply_migrations(MigrationService(settings.sqlalchemy_url), "head", run.console)
    check_broker_now()
    _start_children(run, flower_port, page)
    if flower_port is not None:
        run.console.print(f"Flower: http://127.0.0.1:{flower_port}/tasks", highlight=False)
    if page is not None:
        run.console.print(
            f"{page_describe(page)}\n{page_url(page)}", highlight=False, soft_wrap=True
        )
    store = stores.sql_store(settings, pool_size=2, connect_timeout=5)
    try:
        started = datetime.now(UTC)
        jobs = plan_batch(run.tasks)
        with _progress(run.console) as progress:
            bar = progress.add_task("enqueueing", total=len(jobs))
            ids = enqueue_batch(jobs, run.session_id, lambda: progress.advance(bar))
        complete = _wait_final(run, store, len(ids), timeout)
        metrics = _wait_metrics(run, store, started) if complete else []
        summary = collect_summary(store, run.session_id)
    finally:
        store.close()
    summary.update(
        complete=complete,
        enqueued=len(ids),
        expected_by_status=_expected(jobs),
        metrics=metrics_json(metrics),
        metrics_period_minutes=METRICS_PERIOD_MINUTES,
    )
    if show:
        print_summary(summary, run.console)
        print_metrics(metrics, run.console)
    if flower_port is not None or page is not None:
        where = [f"Flower http://127.0.0.1:{flower_port}/tasks"] if flower_port is not None else []
        where += [f"the live page {page.base_url} (token above)"] if page is not None else []
        run.console.print(
            f"Still running for {' and '.join(where)}; Ctrl-C stops everything",
            highlight=False,
        )
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how this mode ends
            while True:
                for child in run.children:
                    child.check()
                _pause(1)
    return summary


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _expected(jobs: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for job in jobs:
        out[job.expected_status] = out.get(job.expected_status, 0) + 1
    return out


def _wait_final(run: DemoRun, store: SQLStore, n: int, timeout: float) -> bool:
    from workers.demo.report import TERMINAL_VALUES, status_counts

    deadline = time.monotonic() + timeout
    with _progress(run.console) as progress:
        bar = progress.add_task("running (final: 0 failed)", total=n)
        while True:
            counts = status_counts(store, run.session_id)
            final = sum(v for k, v in counts.items() if k in TERMINAL_VALUES)
            retrying = counts.get("retrying", 0)
            progress.update(
                bar,
                completed=final,
                description=f"running ({counts.get('failed', 0)} failed, {retrying} retrying)",
            )
            if final >= n:
                return True
            if time.monotonic() > deadline:
                run.console.print(
                    f"[yellow]{n - final} execution(s) not final after {timeout:g} s;"
                    f" see {run.run_dir / 'worker.log'}[/]",
                    highlight=False,
                )
                return False
            for child in run.children:
                child.check()
            _pause(0.25)


def _wait_metrics(run: DemoRun, store: SQLStore, since: datetime) -> list[dict[str, Any]]:
    """Wait for beat to aggregate the period of the last completion (≤ ~1 period)."""
    from workers.demo.report import demo_metrics, last_completion

    last = last_completion(store, run.session_id)
    if last is None:
        return []
    deadline = time.monotonic() + 60 * METRICS_PERIOD_MINUTES + 10 * METRICS_INTERVAL_SECONDS
    message = f"waiting for beat to aggregate the minute of {last:%H:%M:%S} into agent_metrics…"
    with run.console.status(message):
        while True:
            rows = demo_metrics(store, since, METRICS_PERIOD_MINUTES)
            if rows and max(r["period_end"] for r in rows) > last:
                return rows
            if time.monotonic() > deadline:
                run.console.print("[yellow]beat has not aggregated the demo's period yet[/]")
                return rows
            for child in run.children:
                child.check()
            _pause(1)


def _shutdown(run: DemoRun) -> None:
    for child in run.children:
        run.pids[child.name] = child.pids()
    if run.services is not None:
        for name, pid in run.services.pids.items():
            with contextlib.suppress(psutil.NoSuchProcess):
                kids = psutil.Process(pid).children(recursive=True)
                run.pids[name] = [pid, *(k.pid for k in kids)]
    with run.console.status("stopping worker, beat and services…"):
        for child in reversed(run.children):
            child.stop()
        if run.services is not None:
            run.services.stop()
