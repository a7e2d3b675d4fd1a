"""All eight agent types through a real worker on Redis and PostgreSQL.

Each agent's example input is enqueued with the producer API; the worker runs the real
handler and its hooks and recorder record it. The test checks every record: completed,
output valid against the agent's output model, a quality score in [0, 1], the full
history, and one agent instance per type on the worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import redis

from tasks.registry import AGENT_TYPES, load_agents
from tests.e2e.conftest import in_lifecycle_order, wait_terminal
from tests.support.database import libpq_url, reset_recording
from tests.support.workers import WorkerProcess
from workers.producer import enqueue


@pytest.fixture(scope="module")
def worker(database_url: str, redis_client: redis.Redis) -> Iterator[WorkerProcess]:
    reset_recording(database_url, redis_client)
    w = WorkerProcess("all-agents", concurrency=2).start()
    yield w
    w.stop()


def test_every_agent_type_runs_and_is_recorded(worker: WorkerProcess, database_url: str) -> None:
    specs = load_agents()
    assert set(specs) == set(AGENT_TYPES)
    ids = {
        a: enqueue(a, specs[a].example_task_type, specs[a].example, session_id="e2e-all")
        for a in AGENT_TYPES
    }
    for agent_type, task_id in ids.items():
        rec = wait_terminal(task_id, 4, timeout=60)
        assert rec["status"] == "completed", (agent_type, rec["error_message"])
        assert rec["agent_type"] == agent_type and rec["session_id"] == "e2e-all"
        specs[agent_type].output_model.model_validate(rec["output_data"])
        assert 0.0 <= rec["quality_score"] <= 1.0
        assert rec["input_data"] == specs[agent_type].example
        # Lifecycle order, not times: on a busy machine the worker can stamp `running`
        # before the producer stamps `queued` (it does so after its publish returns).
        assert [h["status"] for h in in_lifecycle_order(rec["history"])] == [
            "pending",
            "queued",
            "running",
            "completed",
        ]
        assert rec["worker"] == worker.hostname
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT agent_type::text, total_tasks_completed FROM agent_instances WHERE worker = %s",
            (worker.hostname,),
        ).fetchall()
    assert dict(rows) == dict.fromkeys(AGENT_TYPES, 1)


def test_same_input_gives_the_same_output(worker: WorkerProcess) -> None:
    specs = load_agents()
    for agent_type in ("terrain_generator", "quiz_generator"):
        spec = specs[agent_type]
        first, second = (enqueue(agent_type, spec.example_task_type, spec.example) for _ in "ab")
        a = wait_terminal(first, 4, timeout=60)
        b = wait_terminal(second, 4, timeout=60)
        assert a["output_data"] == b["output_data"]
        assert a["quality_score"] == b["quality_score"]
