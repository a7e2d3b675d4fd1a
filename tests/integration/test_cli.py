"""agentq: output, JSON shape and exit codes, run as a real subprocess."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore
from tests.support.cli import agentq

ROOT = Path(__file__).resolve().parents[2]


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


def test_status_refuses_what_is_not_a_task_id(clean: str) -> None:
    # the one rule of persistence/task_ids.py, as enqueue and the API apply it
    res = agentq("status", "abc\ndef")
    assert res.returncode == 1 and "is not a task id" in res.stderr and "U+000A" in res.stderr


def test_unreachable_database_exits_4() -> None:
    res = agentq("migrate", env={"DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:1/x"})
    assert res.returncode == 4 and "unreachable" in res.stderr
    assert "secretpw" not in res.stderr + res.stdout


def test_bad_setting_exits_1_naming_it() -> None:
    res = agentq("status", "x", env={"AGENTQ_MAX_INPUT_BYTES": "lots"})
    assert res.returncode == 1 and "AGENTQ_MAX_INPUT_BYTES" in res.stderr


def test_help_lists_every_command() -> None:
    res = agentq("--help")
    assert res.returncode == 0
    for command in ("migrate", "enqueue", "status", "agents", "metrics", "health", "demo", "token"):
        assert f"  {command} " in res.stdout
    assert "celery -A workers.app" in res.stdout


def test_enqueue_count_json_publishes_a_batch(clean: str, redis_client: redis.Redis) -> None:
    res = agentq("enqueue", "terrain_generator", "--example", "--count", "5", "--json")
    assert res.returncode == 0, res.stderr
    ids = json.loads(res.stdout)
    assert len(ids) == len(set(ids)) == 5 and all(uuid.UUID(i) for i in ids)
    assert redis_client.llen("terrain_generator:5") == 5
    res = agentq("enqueue", "terrain_generator", "--example", "--count", "0")
    assert res.returncode == 2 and "--count" in res.stderr


def test_enqueue_unreachable_broker_exits_4_without_the_password(clean: str) -> None:
    env = {"CELERY_BROKER_URL": "redis://:hunter2pw@127.0.0.1:1/0"}
    res = agentq("enqueue", "quiz_generator", "--example", "--json", env=env)
    assert res.returncode == 4 and "broker redis://:***@127.0.0.1:1/0 unreachable" in res.stderr
    assert "hunter2pw" not in res.stderr + res.stdout


def test_migrate_json_reports_revisions_applied(database_url: str) -> None:
    import psycopg

    name = f"agentq_cli_migrate_{uuid.uuid4().hex[:8]}"
    url = database_url.rsplit("/", 1)[0].replace("+psycopg", "") + "/" + name
    try:
        first = agentq("migrate", "--json", env={"DATABASE_URL": url})
        assert first.returncode == 0, first.stderr
        done = json.loads(first.stdout)
        assert done["from"] is None and done["applied"][0] == "0001_initial"
        assert done["to"] == done["applied"][-1] and done["duration_seconds"] >= 0
        assert done["head"] == done["to"] and done["already_at_head"] is False
        again = json.loads(agentq("migrate", "--json", env={"DATABASE_URL": url}).stdout)
        nothing = {"applied": [], "already_at_head": True, "duration_seconds": 0}
        assert again == {**done, "from": done["to"], **nothing}
        status = json.loads(agentq("migrate", "--status", env={"DATABASE_URL": url}).stdout)
        assert status["up_to_date"] and status["pending"] == []
    finally:
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_agents_json_lists_every_agent_type() -> None:
    res = agentq("agents", "--json")
    assert res.returncode == 0
    rows = json.loads(res.stdout)
    assert len(rows) == 8 and all(r["available"] for r in rows)
    assert {"agent_type", "queue", "task_types", "input_fields"} <= set(rows[0])


def test_demo_usage_and_unreachable_database() -> None:
    assert agentq("demo", "--tasks", "0").returncode == 2
    res = agentq(
        "demo", "--tasks", "1", "--json", env={"DATABASE_URL": "postgresql://u:pw9x@127.0.0.1:1/x"}
    )
    assert res.returncode == 4 and "unreachable" in res.stderr and "pw9x" not in res.stderr
    assert res.stdout == ""
