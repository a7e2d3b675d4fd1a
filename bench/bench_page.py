"""Realtime lag to the page: database commit → the execution's row in the page's DOM.

    .venv/bin/python -m bench.bench_page [--tasks 200] [--rate 10]

Builds the database ``agentq_bench_page`` (migrated to head), starts soketi on free
loopback ports, ``agentq realtime`` and ``agentq serve`` as their own processes, and
opens the live page in headless Chromium (Debian's, through Playwright) with a
development token. A MutationObserver in the page notes when each execution's row first
shows each status. Then ``--tasks`` tasks are recorded through the recorder's own path
(``SQLStore.record``, one transaction per 100 ms tick) at ``--rate`` tasks/s, each going
pending+queued → running (0.2 s later) → completed (0.4 s after start). The lag of a
state is the moment its row showed it minus the end of the commit that wrote it (one
clock: the same machine). Reported: p50 / p90 / p99 / max over every state seen, and over
the ``completed`` states alone; how many states the page showed (coalescing may skip a
state replaced within the bridge's 50 ms window, never the last one; ``pending`` is
committed with ``queued`` and never counted). Also the bridge's own worst lag (its
counters) and the machine's load average before and after, since other work on a 2-core
machine moves the tail.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from persistence.lifecycle import TaskStatus, Transition
from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tests.support.bridge import BridgeProcess
from tests.support.page import ServeProcess, chromium
from tests.support.soketi import SoketiServer
from tests.support.workers import wait_for

DB_NAME = "agentq_bench_page"
TICK_S = 0.1
RUNNING_AFTER, COMPLETED_AFTER = 2, 4  # ticks after pending+queued
JWT_SECRET = "agentq-bench-page-secret-0123456789abcdef"
RESULTS = Path(__file__).parent / "results" / "page_last_run.json"

# Notes the first moment (epoch ms) each row shows each status.
OBSERVE = """
() => {
  window.benchSeen = {};
  const note = (tr) => {
    const key = `${tr.dataset.taskId}|${tr.dataset.status}`;
    if (tr.dataset.taskId && !(key in window.benchSeen)) {
      window.benchSeen[key] = performance.timeOrigin + performance.now();
    }
  };
  const rows = document.querySelector("#executions tbody");
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") note(r.target);
      for (const node of r.addedNodes || []) if (node.dataset) note(node);
    }
  }).observe(rows, { subtree: true, childList: true, attributes: true,
                     attributeFilter: ["data-status"] });
}
"""


def _urls() -> tuple[str, str, str]:
    admin = os.environ.get("AGENTQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    plain = admin.rsplit("/", 1)[0] + "/" + DB_NAME
    return admin, plain, plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _prepare(admin: str, sa_url: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    MigrationService(sa_url).run_migrations()


def _t(task: str, status: TaskStatus) -> Transition:
    result = None
    if status is TaskStatus.COMPLETED:
        result = {"output_data": {"ok": True}, "quality_score": 1.0, "execution_time_seconds": 0.4}
    return Transition(
        event_id=uuid.uuid4(),
        task_id=task,
        status=status,
        attempt=0,
        occurred_at=datetime.now(UTC),
        agent_type="content_generator",
        task_type="lesson",
        worker=None if status in (TaskStatus.PENDING, TaskStatus.QUEUED) else "bench@page",
        request={"input_data": {"topic": "x"}} if status is TaskStatus.PENDING else None,
        result=result,
    )


def _load(store: SQLStore, n_tasks: int, rate: float) -> dict[str, float]:
    """Record the tasks; "task|status" → end of the commit (epoch ms)."""
    per_tick = max(1, round(rate * TICK_S))
    tasks = [str(uuid.uuid4()) for _ in range(n_tasks)]
    committed: dict[str, float] = {}
    ticks = (n_tasks + per_tick - 1) // per_tick + COMPLETED_AFTER
    start = time.monotonic()
    for i in range(ticks):
        batch: list[Transition] = []
        for back, statuses in (
            (0, (TaskStatus.PENDING, TaskStatus.QUEUED)),
            (RUNNING_AFTER, (TaskStatus.RUNNING,)),
            (COMPLETED_AFTER, (TaskStatus.COMPLETED,)),
        ):
            if i >= back:
                for task in tasks[(i - back) * per_tick : (i - back + 1) * per_tick]:
                    batch += [_t(task, s) for s in statuses]
        if batch:
            store.record(batch)
            done = time.time() * 1000
            for t in batch:
                # pending commits with queued: only queued can ever be shown.
                if t.status is not TaskStatus.PENDING:
                    committed[f"{t.task_id}|{t.status.value}"] = done
        time.sleep(max(0.0, start + (i + 1) * TICK_S - time.monotonic()))
    return committed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def measure(n_tasks: int, rate: float, sa_url: str, plain: str) -> dict[str, Any]:
    import jwt

    soketi = SoketiServer().start()
    env = {**soketi.env, "DATABASE_URL": plain, "SUPABASE_JWT_SECRET": JWT_SECRET}
    bridge = BridgeProcess({**env, "AGENTQ_REALTIME_BATCH_WINDOW_MS": "50"}).start()
    served = ServeProcess(env).start()
    store = SQLStore(sa_url, pool_size=2)
    claims = {"role": "authenticated", "sub": str(uuid.uuid4()), "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.goto(f"{served.base}/#token={token}")
            page.wait_for_selector('#live[data-synced="1"]', timeout=60_000)
            page.evaluate(OBSERVE)
            committed = _load(store, n_tasks, rate)
            wanted = {k for k in committed if k.endswith("|completed")}
            wait_for(
                lambda: wanted <= set(page.evaluate("Object.keys(window.benchSeen)")),
                60,
                what="every completed row on the page",
            )
            seen: dict[str, float] = page.evaluate("window.benchSeen")
            time.sleep(1.2)  # one more status line from the bridge
            counters = bridge.status()
    finally:
        store.close()
        served.stop()
        bridge.stop()
        soketi.stop()
    lags = {k: seen[k] - committed[k] for k in seen if k in committed}
    done = [v for k, v in lags.items() if k.endswith("|completed")]
    every = list(lags.values())
    return {
        "tasks": n_tasks,
        "rate_tasks_per_s": rate,
        "states_committed": len(committed),
        "states_shown": len(every),
        "lag_p50_ms": _pct(every, 0.5),
        "lag_p90_ms": _pct(every, 0.9),
        "lag_p99_ms": _pct(every, 0.99),
        "lag_max_ms": round(max(every), 1),
        "completed_lag_p50_ms": _pct(done, 0.5),
        "completed_lag_p99_ms": _pct(done, 0.99),
        # The bridge's share: a row's updated_at → its event pushed (worst of the run).
        "bridge_max_lag_ms": round(1000 * counters.get("max_lag_seconds", 0.0), 1),
        "bridge_counters": counters,
        "console_errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0, help="new tasks per second")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    for name in [k for k in os.environ if k.startswith(("AGENTQ_", "PUSHER_", "SUPABASE_"))]:
        del os.environ[name]  # the run's own settings only
    admin, plain, sa_url = _urls()
    _prepare(admin, sa_url)
    load_before = os.getloadavg()[0]
    result = measure(args.tasks, args.rate, sa_url, plain)
    result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(
        f"commit → page DOM, {args.tasks} tasks at {args.rate:g}/s "
        f"({result['states_shown']} of {result['states_committed']} states shown): "
        f"p50 {result['lag_p50_ms']} ms, p90 {result['lag_p90_ms']} ms, "
        f"p99 {result['lag_p99_ms']} ms, max {result['lag_max_ms']} ms; completed only: "
        f"p50 {result['completed_lag_p50_ms']} ms, p99 {result['completed_lag_p99_ms']} ms; "
        f"bridge's worst commit → push {result['bridge_max_lag_ms']} ms; "
        f"load average {result['load_average_1m'][0]} → {result['load_average_1m'][1]}"
    )
    if result["console_errors"]:
        print(f"console errors: {result['console_errors']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"when": datetime.now(UTC).isoformat(), "machine": {"cpus": os.cpu_count()}}
    args.output.write_text(json.dumps({**payload, **result}, indent=2))
    print(f"results: {args.output}")


if __name__ == "__main__":
    main()
