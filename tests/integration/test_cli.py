"""agentq: output, JSON shape and exit codes, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore

ROOT = Path(__file__).resolve().parents[2]


def agentq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_enqueue_example_publishes_and_records_pending(
    clean: str, redis_client: redis.Redis
) -> None:
    res = agentq("enqueue", "quiz_generator", "--example", "--session-id", "s-1")
    assert res.returncode == 0, res.stderr
    task_id = res.stdout.strip()
    assert uuid.UUID(task_id)
    # The message waits in its queue (kombu keeps one list per priority: normal is 5).
    assert redis_client.llen("quiz_generator:5") == 1
    [(_, fields)] = redis_client.xrange("agentq:events")
    statuses = [e["s"] for e in json.loads(fields[b"e"])]
    assert statuses == ["pending", "queued"]


def test_enqueue_rejects_bad_input_with_a_clear_message(
    clean: str, redis_client: redis.Redis
) -> None:
    res = agentq("enqueue", "content_generator", "--task-type", "lesson", "--input", "[1]")
    assert res.returncode == 1
    assert "must be a JSON object" in res.stderr
    res = agentq("enqueue", "content_generator", "--input", "{not json")
    assert res.returncode == 1 and "not valid JSON" in res.stderr
    res = agentq("enqueue", "terrain_generator", "--input", '{"size": 3}')
    assert res.returncode == 1 and "size" in res.stderr
    res = agentq("enqueue", "content_generator", "--example", "--user-id", "bob")
    assert res.returncode == 1 and "user_id must be a UUID" in res.stderr
    assert redis_client.xlen("agentq:events") == 0
    assert not redis_client.keys("content_generator*")


def test_status_json_and_timeline(sql_store: SQLStore) -> None:
    t0 = datetime.now(UTC)
    tid = str(uuid.uuid4())

    def t(status: str, sec: float, **kw: Any) -> Transition:
        return Transition(
            uuid.uuid4(),
            tid,
            TaskStatus(status),
            0,
            t0 + timedelta(seconds=sec),
            "content_generator",
            "lesson",
            **kw,
        )

    sql_store.record(
        [
            t("pending", 0, request={"input_data": {"topic": "x"}}),
            t("queued", 0.1),
            t("running", 0.5, worker="w@h"),
            t(
                "completed",
                1.5,
                worker="w@h",
                result={
                    "output_data": {"a": 1},
                    "quality_score": 0.8,
                    "execution_time_seconds": 1.0,
                },
            ),
        ]
    )
    res = agentq("status", tid, "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["status"] == "completed" and data["quality_score"] == 0.8
    assert [h["status"] for h in data["history"]] == ["pending", "queued", "running", "completed"]
    assert set(data["history"][0]) == {"status", "attempt", "occurred_at", "worker", "detail"}
    text = agentq("status", tid).stdout
    assert "queued for  0.400s" in text and "ran on      w@h" in text and "completed" in text


def test_status_of_unknown_task_exits_3(clean: str) -> None:
    res = agentq("status", "no-such-task")
    assert res.returncode == 3 and "unknown task id" in res.stderr


def test_unreachable_database_exits_4() -> None:
    res = agentq("migrate", env={"DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/x"})
    assert res.returncode == 4 and "unreachable" in res.stderr
    assert "secretpw" not in res.stderr + res.stdout


def test_bad_setting_exits_1_naming_it() -> None:
    res = agentq("status", "x", env={"AGENTQ_MAX_INPUT_BYTES": "lots"})
    assert res.returncode == 1 and "AGENTQ_MAX_INPUT_BYTES" in res.stderr
