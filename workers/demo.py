"""``agentq demo``: the whole path once, on the configured Redis and PostgreSQL.

Migrates, starts a real worker subprocess (prefork, 2 processes), enqueues a batch
of agent tasks through the producer API, shows progress while they run, prints a
summary read back from the database, and stops the worker cleanly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from persistence.lifecycle import TERMINAL, TaskStatus
from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tasks.registry import load_agents
from workers.settings import Settings, redact_url

TERMINAL_VALUES = {s.value for s in TERMINAL}


def run_demo(settings: Settings, tasks: int, console: Console) -> int:
    console.print(
        f"broker {redact_url(settings.broker_url)}, "
        f"database {redact_url(settings.database_url.get_secret_value())}",
        highlight=False,
    )
    MigrationService(settings.sqlalchemy_url).run_migrations()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-l",
            "warning",
            "-c",
            "2",
            "-n",
            "demo@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    store = SQLStore(settings.sqlalchemy_url, pool_size=2)
    try:
        ids = _enqueue_batch(tasks)
        _wait(store, ids, console)
        _summary(store, ids, console)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        store.close()
    console.print(
        "See them live: celery -A workers.app flower  (then http://localhost:5555)", highlight=False
    )
    return 0


def _enqueue_batch(n: int) -> list[str]:
    from workers.producer import enqueue

    specs = sorted(load_agents().values(), key=lambda s: s.agent_type)
    return [
        enqueue(spec.agent_type, spec.example_task_type, spec.example, session_id="demo")
        for spec in (specs[i % len(specs)] for i in range(n))
    ]


def _wait(store: SQLStore, ids: list[str], console: Console, timeout: float = 120) -> None:
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("running agent tasks", total=len(ids))
        while len(done) < len(ids) and time.monotonic() < deadline:
            for tid in ids:
                if tid not in done:
                    rec = store.get_execution(tid)
                    if rec is not None and rec["status"] in TERMINAL_VALUES:
                        done.add(tid)
            progress.update(bar, completed=len(done))
            time.sleep(0.2)
    if len(done) < len(ids):
        console.print(f"[yellow]{len(ids) - len(done)} task(s) still running after {timeout}s[/]")


def _summary(store: SQLStore, ids: list[str], console: Console) -> None:
    records: list[dict[str, Any]] = [r for r in map(store.get_execution, ids) if r is not None]
    counts = Counter((r["agent_type"], r["status"]) for r in records)
    table = Table("agent type", "status", "executions", "avg quality", title="executions")
    for (agent_type, status), n in sorted(counts.items()):
        scores = [
            r["quality_score"]
            for r in records
            if (r["agent_type"], r["status"]) == (agent_type, status) and r["quality_score"]
        ]
        avg = f"{sum(scores) / len(scores):.3f}" if scores else "-"
        table.add_row(agent_type, status, str(n), avg)
    console.print(table)
    if records:
        r = records[0]
        console.print(f"timeline of {r['task_id']}:", highlight=False)
        for h in r["history"]:
            console.print(
                f"  {h['occurred_at'].isoformat(timespec='milliseconds')}  "
                f"{h['status']:<9} attempt {h['attempt']}  {h['worker'] or ''}",
                highlight=False,
            )
    completed = sum(1 for r in records if r["status"] == TaskStatus.COMPLETED.value)
    console.print(f"{completed}/{len(ids)} completed", highlight=False)
