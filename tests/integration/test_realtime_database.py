"""Revision 0009 and the bridge's database: who notifies what, on which database.

* The recorder's function notifies its executions itself (one notification per 150
  ids), and the executions triggers stay quiet inside it; other writers still get them.
* ``SUPABASE_ENABLE_REALTIME=false``: the sessions of our stores send nothing, the
  bridge refuses to start, health says so.
* ``system_health`` rows reach ``agentq-health`` (real soketi).
* The bridge LISTENs on the primary: Supabase's database when only ``SUPABASE_DB_*``
  name one; with REST only it refuses to start.

"Nothing was sent" is observed without waiting: after the writes, a marker NOTIFY is
sent on the same channel; notifications arrive in commit order, so once the marker is
in, everything committed before it is too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from persistence import health as db_health
from persistence.sql_records import SQLRecords
from persistence.sql_store import SQLStore
from tests.conftest import TEST_DB
from tests.support.batches import task_transitions
from tests.support.soketi import SoketiServer, Subscriber
from tests.support.workers import ROOT, wait_for
from workers import stores
from workers.health.report import health_check
from workers.realtime import Change, RealtimeIntegrationService
from workers.realtime.config import RealtimeConfig
from workers.settings import SettingsError, load_settings

MARKER = "agentq-test-marker"


def _libpq(url: str) -> str:
    return url.replace("+psycopg", "")


class Listener:
    """A LISTEN connection on ``agentq_realtime``; :meth:`drain` returns every payload
    committed before the call (up to a marker it sends itself)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(_libpq(url), autocommit=True)
        self.conn.execute("LISTEN agentq_realtime")
        self._url = url

    def drain(self) -> list[str]:
        with psycopg.connect(_libpq(self._url), autocommit=True) as other:
            other.execute("SELECT pg_notify('agentq_realtime', %s)", (MARKER,))
        out: list[str] = []
        for note in self.conn.notifies(timeout=30):
            if note.payload == MARKER:
                return out
            out.append(note.payload)
        raise AssertionError(f"the marker never came; got {out}")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def listener(clean: str) -> Iterator[Listener]:
    lis = Listener(clean)
    lis.drain()  # nothing left from before
    yield lis
    lis.close()


def _store(database_url: str, *, realtime: bool) -> SQLStore:
    settings = load_settings(database_url=_libpq(database_url), supabase_enable_realtime=realtime)
    return stores.sql_store(settings, pool_size=2)


def _ids(payloads: list[str], table: str) -> list[str]:
    return [i for p in payloads if p.startswith(table + ":") for i in p.split(":", 1)[1].split(",")]


def _execution_ids(database_url: str, task_ids: list[str]) -> set[str]:
    with psycopg.connect(_libpq(database_url)) as conn:
        rows = conn.execute(
            "SELECT id::text FROM agent_executions WHERE task_id = ANY(%s)", (task_ids,)
        ).fetchall()
    return {r[0] for r in rows}


# --- the recorder notifies its executions itself --------------------------------------------
def test_the_recorder_sends_one_notification_per_150_executions_and_the_triggers_stay_quiet(
    clean: str, listener: Listener
) -> None:
    tasks = [str(uuid.uuid4()) for _ in range(160)]
    store = _store(clean, realtime=True)
    try:
        # Inserts and updates in one call: the upsert fires both executions triggers.
        store.record([t for task in tasks[:10] for t in task_transitions(task)[:2]])
        first = listener.drain()
        store.record([t for task in tasks for t in task_transitions(task)])
        second = listener.drain()
    finally:
        store.close()
    executions = [p for p in first if p.startswith("agent_executions:")]
    assert len(executions) == 1 and set(_ids(first, "agent_executions")) == _execution_ids(
        clean, tasks[:10]
    )
    executions = [p for p in second if p.startswith("agent_executions:")]
    assert [len(p.split(":", 1)[1].split(",")) for p in executions] == [150, 10]
    ids = _ids(second, "agent_executions")
    assert len(ids) == len(set(ids)) == 160  # each once: no trigger repeated them
    assert set(ids) == _execution_ids(clean, tasks)
    # The instance it created (running on w1) is announced by the instances triggers.
    assert len(_ids(second, "agent_instances")) >= 1


def test_the_rest_rpc_and_other_writers_still_notify(clean: str, listener: Listener) -> None:
    from persistence import wire

    task = str(uuid.uuid4())
    batch = wire.encode(wire.to_wire(t) for t in task_transitions(task)[:2]).decode()
    with psycopg.connect(_libpq(clean), autocommit=True) as conn:
        conn.execute("SELECT * FROM agentq_record_batch(%s::json)", (batch,))  # the REST RPC
    assert _ids(listener.drain(), "agent_executions") == list(_execution_ids(clean, [task]))

    store = _store(clean, realtime=True)
    try:
        other = str(uuid.uuid4())
        row = SQLRecords(store).create_task_execution(
            {"task_id": other, "agent_type": "quiz_generator", "task_type": "quiz"}
        )
        SQLRecords(store).update_task_execution(other, {"status": "running"})
        health_id = db_health.store_system_health(store, {"status": "healthy"})
    finally:
        store.close()
    payloads = listener.drain()
    assert _ids(payloads, "agent_executions") == [str(row["id"])] * 2  # two statements
    assert _ids(payloads, "system_health") == [health_id]


# --- SUPABASE_ENABLE_REALTIME=false ------------------------------------------------------------
def test_realtime_off_sends_nothing_from_our_sessions(clean: str, listener: Listener) -> None:
    store = _store(clean, realtime=False)
    try:
        tasks = [str(uuid.uuid4()) for _ in range(5)]
        result = store.record([t for task in tasks for t in task_transitions(task)])
        SQLRecords(store).update_task_execution(tasks[0], {"status": "failed"})
        store.set_instances_status("w9", ["quiz_generator"], "offline", datetime.now(UTC))
        db_health.store_system_health(store, {"status": "degraded"})
    finally:
        store.close()
    assert result.executions_created == 5
    assert listener.drain() == []
    # The same writes from a session that did not switch it off are announced.
    with psycopg.connect(_libpq(clean), autocommit=True) as conn:
        conn.execute(
            "UPDATE agent_executions SET status = 'cancelled' WHERE task_id = %s", (tasks[1],)
        )
    assert _ids(listener.drain(), "agent_executions") == list(_execution_ids(clean, tasks[1:2]))


def test_health_reports_realtime_off(clean: str) -> None:
    on = health_check(load_settings())
    off = health_check(load_settings(supabase_enable_realtime=False))
    assert on["realtime_enabled"] is True
    assert on["components"]["database"]["realtime_setting"] is True
    assert off["realtime_enabled"] is False
    assert off["components"]["database"]["realtime_setting"] is False


def _agentq_realtime(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "SUPABASE_"))}
    base.pop("DATABASE_URL", None)
    pusher = {
        "PUSHER_APP_ID": "1",
        "PUSHER_KEY": "k",
        "PUSHER_SECRET": "s",
        "PUSHER_HOST": "127.0.0.1",
    }
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "realtime"],
        cwd=ROOT,
        env={**base, **pusher, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_agentq_realtime_refuses_when_disabled(clean: str) -> None:
    res = _agentq_realtime({"DATABASE_URL": _libpq(clean), "SUPABASE_ENABLE_REALTIME": "false"})
    assert res.returncode == 1, res.stderr
    assert "SUPABASE_ENABLE_REALTIME=false" in res.stderr and "disabled" in res.stderr


# --- which database the bridge listens on ------------------------------------------------------
def test_agentq_realtime_refuses_rest_only(clean: str) -> None:
    res = _agentq_realtime(
        {"SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_SERVICE_ROLE_KEY": "service-key"}
    )
    assert res.returncode == 1, res.stderr
    assert "DATABASE_URL" in res.stderr and "SUPABASE_DB_HOST" in res.stderr
    assert "LISTEN" in res.stderr


def test_the_bridge_listens_on_supabase_database_when_it_is_the_primary(
    clean: str, soketi: SoketiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL")  # Supabase's database is then the only one
    parts = psycopg.conninfo.conninfo_to_dict(_libpq(clean))
    settings = load_settings(
        supabase_db_host=parts.get("host", "127.0.0.1"),
        supabase_db_port=int(parts.get("port", 5432)),
        supabase_db_name=TEST_DB,
        supabase_db_user=parts.get("user", "postgres"),
        supabase_db_pass="unused-with-trust",
        supabase_db_sslmode="disable",
        **soketi.overrides,
    )
    config = RealtimeConfig.from_settings(settings)
    assert config.database_url == settings.get_supabase_database_url()
    service = RealtimeIntegrationService(config)
    seen: list[Change] = []
    service.add_event_handler("agent_executions", seen.append)
    service.start()
    try:
        with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub:
            with psycopg.connect(_libpq(clean), autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO agent_executions (task_id, agent_type, task_type, status)"
                    " VALUES ('sb-1', 'quiz_generator', 'quiz', 'queued')"
                )
            wait_for(lambda: sub.received(), what="the execution's event")
        assert sub.received()[0]["data"]["task_id"] == "sb-1"
        assert [c.row["task_id"] for c in seen] == ["sb-1"]
        assert TEST_DB in service.get_status()["database"]
    finally:
        service.stop()


def test_dual_mode_listens_on_the_primary_and_rest_only_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rest = {"supabase_url": "http://127.0.0.1:9", "supabase_service_role_key": "k"}
    pusher = {"pusher_app_id": "1", "pusher_key": "k", "pusher_secret": "s"}
    settings = load_settings(**rest, **pusher, pusher_host="127.0.0.1")
    # DATABASE_URL (the test environment's) + REST: DATABASE_URL is the primary.
    assert RealtimeConfig.from_settings(settings).database_url == os.environ["DATABASE_URL"]
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SettingsError, match="SUPABASE_DB_HOST"):
        RealtimeConfig.from_settings(load_settings(**rest, **pusher, pusher_host="127.0.0.1"))


# --- system health on its channel --------------------------------------------------------------
def test_a_system_health_row_reaches_the_health_channel(
    clean: str, soketi: SoketiServer, sql_store: SQLStore
) -> None:
    service = RealtimeIntegrationService(settings=load_settings(**soketi.overrides))
    service.start()
    reasons = ["workers: none online", "recording: backlog 12"]
    try:
        with Subscriber(soketi.ws_url, ["agentq-health"]) as sub:
            row_id = db_health.store_system_health(
                sql_store,
                {
                    "status": "degraded",
                    "critical_issues": 0,
                    "warnings": 2,
                    "details": {"reasons": reasons, "components": {"big": "x" * 100}},
                },
            )
            wait_for(lambda: sub.received(), what="the health event")
    finally:
        service.stop()
    [event] = sub.received()
    assert event["channel"] == "agentq-health" and event["event"] == "health.updated"
    data: dict[str, Any] = event["data"]
    assert data["id"] == row_id and data["status"] == "degraded"
    assert data["overall_health_score"] == 50.0 and data["reasons"] == reasons
    assert data["warnings"] == 2 and data["critical_issues"] == 0
    assert "components" not in repr(data)  # the report's details stay in the database


def test_health_table_is_a_known_realtime_table() -> None:
    with pytest.raises(SettingsError, match="AGENTQ_REALTIME_TABLES"):
        RealtimeConfig.from_settings(
            load_settings(
                realtime_tables="system_health,jobs",
                pusher_app_id="1",
                pusher_key="k",
                pusher_secret="s",
                pusher_host="127.0.0.1",
            )
        )
