"""Messages that name the fix (issue 25, item 2), from the real ``agentq`` process against
the machine's PostgreSQL and throwaway ports where nothing listens; and what ``status
--json`` shows of an error (item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from persistence.errors import SchemaNotReady
from persistence.lifecycle import TaskStatus, Transition
from persistence.sql_store import SQLStore
from tests.support.cli import agentq

MISSING_DB = "postgresql://postgres@127.0.0.1:5432/agentq_missing_firsthour"
NO_BROKER = "redis://127.0.0.1:27411/0"  # nothing listens there (this task's port range)
AN_ID = "0b8e4f2a-1111-4111-8111-111111111111"


def test_missing_database_names_agentq_migrate() -> None:
    for args in (("status", AN_ID), ("metrics",)):
        res = agentq(*args, env={"DATABASE_URL": MISSING_DB})
        assert res.returncode == 4, res.stderr
        assert "database not ready" in res.stderr
        assert 'database "agentq_missing_firsthour" does not exist' in res.stderr
        assert "run `agentq migrate`" in res.stderr
        assert "Traceback" not in res.stderr


def test_missing_database_in_the_recorders_error() -> None:
    # What the recorder logs on every retry ("recorder paused …s: <this>").
    store = SQLStore(MISSING_DB.replace("postgresql://", "postgresql+psycopg://"))
    t = Transition(
        uuid.uuid4(), AN_ID, TaskStatus.QUEUED, 0, datetime.now(UTC), "quiz_generator", "quiz"
    )
    try:
        store.record([t])
    except SchemaNotReady as exc:
        assert "run `agentq migrate`" in str(exc)
    else:
        raise AssertionError("recording into a missing database succeeded")
    finally:
        store.close()


def test_bad_urls_are_quoted_and_the_form_named() -> None:
    res = agentq("status", AN_ID, env={"DATABASE_URL": "not a url"})
    assert res.returncode == 1
    assert "'not a url' is not a PostgreSQL URL" in res.stderr
    assert "postgresql://user:password@host:5432/dbname" in res.stderr
    res = agentq("status", AN_ID, env={"CELERY_BROKER_URL": "localhost:6379"})
    assert res.returncode == 1 and "'localhost:6379' is not a broker URL" in res.stderr
    res = agentq("status", AN_ID, env={"DATABASE_URL": "mysql://u:pw@h/d"})
    assert "'mysql://u:***@h/d'" in res.stderr and "pw" not in res.stderr


def test_health_with_the_broker_down_says_so_not_start_a_worker(clean: str) -> None:
    res = agentq("health", env={"CELERY_BROKER_URL": NO_BROKER})
    assert res.returncode == 4, res.stdout + res.stderr
    assert "broker unreachable" in res.stdout
    assert "start one" not in res.stdout and "no worker online" not in res.stdout


def test_demo_with_the_broker_down_names_the_broker(clean: str) -> None:
    res = agentq("demo", "--tasks", "1", env={"CELERY_BROKER_URL": NO_BROKER})
    assert res.returncode == 4, res.stdout + res.stderr
    assert f"broker {NO_BROKER} unreachable" in res.stderr
    assert "not ready" not in res.stderr  # not the worker's fault


def test_status_json_shows_no_internal_rank(sql_store: SQLStore) -> None:
    tid = str(uuid.uuid4())
    t0 = datetime.now(UTC)

    def t(status: str, sec: float, **kw: object) -> Transition:
        at = t0 + timedelta(seconds=sec)
        return Transition(
            uuid.uuid4(), tid, TaskStatus(status), 0, at, "quiz_generator", "quiz", **kw
        )  # type: ignore[arg-type]

    error = {"error_type": "RuntimeError", "error_message": "boom"}
    sql_store.record(
        [
            t("queued", 0),
            t("running", 0.1, worker="w@h"),
            t("failed", 0.2, worker="w@h", result=error),
        ]
    )
    res = agentq("status", tid, "--json")
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)
    assert record["status"] == "failed" and record["error_message"] == "boom"
    assert isinstance(record["error_details"], dict) and record["error_details"]
    assert "rank" not in record["error_details"]


def test_one_url_set_is_a_deployment_of_its_own_not_the_embedded_servers(
    tmp_path: Path, database_url: str
) -> None:
    """``agentq migrate`` with only DATABASE_URL (a container's migrate job): the broker
    is not needed, nothing names ``agentq up``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "AGENTQ_EVENTS_URL")
        and not k.startswith("SUPABASE_")
    }
    env |= {"DATABASE_URL": database_url, "AGENTQ_STATE_DIR": str(tmp_path / "embedded")}
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "agentq up" not in res.stderr
