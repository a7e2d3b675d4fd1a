"""The fleet's metrics end to end: two real workers, each with its own recorder, run tasks
of known outcomes; ``agentq serve /metrics`` (a real subprocess, parsed with
prometheus_client's parser) counts each transition exactly once, per state and agent type,
and its histograms hold exactly one observation per run."""

from __future__ import annotations

import urllib.request
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import send_test_task, wait_terminal
from tests.support.database import libpq_url
from tests.support.served import Served
from tests.support.workers import WorkerProcess, wait_for

pytestmark = pytest.mark.slow

CONTENT = "content_generator"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(served: Served) -> Samples:
    with urllib.request.urlopen(served.base + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _one(m: Samples, name: str, **labels: str) -> float:
    return m[(name, tuple(sorted(labels.items())))]


def _tasks(m: Samples, agent_type: str) -> dict[str, float]:
    return {
        dict(labels)["state"]: v
        for (name, labels), v in m.items()
        if name == "agentq_tasks_total" and dict(labels)["agent_type"] == agent_type
    }


def test_two_workers_two_recorders_count_each_transition_once(clean: str) -> None:
    workers = [WorkerProcess(f"fleet{i}", queues=CONTENT) for i in (1, 2)]
    served: Served | None = None
    try:
        for w in workers:
            w.start()
        # Known outcomes: 10 succeed, 4 fail, 3 succeed on their second attempt.
        ids = [send_test_task("noop", {"n": i}) for i in range(10)]
        ids += [send_test_task("boom", {"n": i}) for i in range(4)]
        ids += [send_test_task("flaky", {"fail_times": 1, "countdown": 0.1}) for _ in range(3)]
        for task_id in ids:
            wait_terminal(task_id, timeout=120)
        expected = {
            "queued": 17 + 3,  # every publish: the 3 retries are published again
            "started": 17 + 3,
            "succeeded": 13,
            "failed": 4,
            "retried": 3,
            "cancelled": 0,
        }
        served = Served({})
        # Every transition of every task reaches the database (recorded by either recorder).
        m = wait_for(
            lambda: (lambda s: s if sum(_tasks(s, CONTENT).values()) >= 40 else None)(
                _scrape(served)  # type: ignore[union-attr]
            ),
            timeout=60,
            interval=0.5,
            what="every transition counted",
        )
        assert _tasks(m, CONTENT) == expected
        # The same numbers as the history the recorders wrote (its own rows, counted here).
        with psycopg.connect(libpq_url(clean), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT status::text, count(*) FROM agent_execution_events "
                "WHERE status <> 'pending' GROUP BY status"
            ).fetchall()
        history = dict(rows)
        assert history["queued"] == expected["queued"] and history["running"] == expected["started"]
        assert {w for (w,) in _workers(clean)} == {w.hostname for w in workers}

        runs = expected["succeeded"] + expected["failed"]
        assert _one(m, "agentq_task_runtime_seconds_count", agent_type=CONTENT) == runs
        assert _one(m, "agentq_task_runtime_seconds_bucket", agent_type=CONTENT, le="+Inf") == runs
        assert _one(m, "agentq_task_queue_wait_seconds_count", agent_type=CONTENT) == 20
        waits = [
            v
            for (name, labels), v in m.items()
            if name == "agentq_task_queue_wait_seconds_bucket"
            and dict(labels)["agent_type"] == CONTENT
        ]
        assert len(waits) == 16 and waits == sorted(waits)  # cumulative buckets, +Inf = 20
        assert _one(m, "agentq_tasks_total", agent_type="quiz_generator", state="queued") == 0

        # The workers: both up, both consuming content_generator, neither stalled.
        for w in workers:
            assert _one(m, "agentq_worker_up", worker=w.hostname) == 1
            assert _one(m, "agentq_worker_stalled", worker=w.hostname) == 0
            assert (("agentq_worker_tasks_active", (("worker", w.hostname),))) in m
        assert _one(m, "agentq_queue_consumers", queue=CONTENT) == 2
        assert _one(m, "agentq_queue_consumers", queue="quiz_generator") == 0
        # Nothing runs now: each worker's next progress report says so.
        wait_for(
            lambda: all(
                _one(_scrape(served), "agentq_worker_tasks_active", worker=w.hostname) == 0  # type: ignore[arg-type]
                for w in workers
            ),
            timeout=60,
            interval=0.5,
            what="no task active on either worker",
        )
    finally:
        if served is not None:
            served.stop()
        for w in workers:
            w.stop()


def _workers(url: str) -> list[Any]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return conn.execute(
            "SELECT DISTINCT worker FROM agent_execution_events WHERE status = 'running'"
        ).fetchall()
