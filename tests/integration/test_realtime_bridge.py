"""The realtime bridge against real PostgreSQL (triggers of revision 0003) and a real
Pusher-protocol server (soketi), with a websocket subscriber on the other side.

Changes are written with plain SQL here; tests/e2e/test_realtime_e2e.py runs real tasks.
Several changes of one commit always reach the bridge together (NOTIFY is delivered at
commit), so "inside one batch window" is a commit here, not a race.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.support.realtime_rows import db, insert_executions
from tests.support.soketi import SoketiServer, Subscriber, sign_with_app_secret
from tests.support.workers import ROOT, wait_for
from workers.realtime import Change, RealtimeIntegrationService
from workers.settings import load_settings

Factory = Callable[..., RealtimeIntegrationService]


@pytest.fixture
def bridge(clean: str, soketi: SoketiServer) -> Iterator[Factory]:
    """Build (not start) bridges on the test database and soketi; stopped afterwards."""
    made: list[RealtimeIntegrationService] = []

    def make(**overrides: Any) -> RealtimeIntegrationService:
        settings = load_settings(**{**soketi.overrides, **overrides})
        service = RealtimeIntegrationService(settings=settings)
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()


def set_status(conn: psycopg.Connection[Any], task_ids: list[str], status: str) -> None:
    conn.execute(
        "UPDATE agent_executions SET status = %s, updated_at = now() WHERE task_id = ANY(%s)",
        (status, task_ids),
    )


def by_task(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        out.setdefault(e["data"]["task_id"], []).append(e["data"]["status"])
    return out


# --- coalescing and batching -------------------------------------------------------------
def test_updates_in_one_window_are_coalesced_and_sent_ten_per_call(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    service = bridge(realtime_batch_window_ms=300)
    service.start()
    with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub, db(database_url) as conn:
        with conn.transaction():  # (PostgreSQL itself folds identical NOTIFYs of a commit)
            ids = insert_executions(conn, 25)
            set_status(conn, ids[:12], "running")
            set_status(conn, ids[12:], "running")
            set_status(conn, ids, "completed")
        wait_for(lambda: len(sub.received()) >= 25, what="25 events")
        status = wait_for(lambda: (s := service.get_status())["forwarded"] >= 25 and s)

    # One event per row, with its latest state; 25 events → 3 calls of ≤ 10.
    assert by_task(sub.received()) == {t: ["completed"] for t in ids}
    assert status["published"] == 25 and status["events"] == 25 and status["forwarded"] == 25
    assert status["received"] - status["coalesced"] == 25 and status["coalesced"] >= 25
    assert status["batches"] == 3
    assert status["dropped"] == status["api_errors"] == status["filtered"] == 0
    assert status["lag_seconds"] is not None


def test_successive_commits_arrive_in_order(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    service = bridge(realtime_batch_window_ms=0)
    service.start()
    steps = ["running", "retrying", "queued", "running", "completed"]
    with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub, db(database_url) as conn:
        [task] = insert_executions(conn, 1)
        for status in steps:
            set_status(conn, [task], status)
        wait_for(lambda: "completed" in by_task(sub.received()).get(task, []), what="completed")
    seen = by_task(sub.received())[task]
    # Coalescing may skip states, never reorder them: what arrived is a subsequence
    # (a state can come twice in a row: a late notification reads the same row again).
    distinct = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    it = iter(["queued", *steps])
    assert all(s in it for s in distinct), seen
    assert seen[-1] == "completed"


# --- channels, payloads, filters --------------------------------------------------------
def test_user_channel_payload_and_trimming(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    user = str(uuid.uuid4())
    service = bridge()
    service.start()
    channels = ["agentq-executions", f"private-agentq-user-{user}"]
    with (
        Subscriber(soketi.ws_url, channels, auth=sign_with_app_secret) as sub,
        db(database_url) as conn,
    ):
        [small] = insert_executions(conn, 1, user_id=user)
        [big] = insert_executions(conn, 1, user_id=user, error="e" * 20_000)
        wait_for(lambda: len(sub.received()) >= 4, what="4 events")
    events = sub.received()
    assert sorted(e["channel"] for e in events) == sorted(channels * 2)
    assert {e["event"] for e in events} == {"execution.updated"}
    small_event = next(e["data"] for e in events if e["data"]["task_id"] == small)
    assert small_event["status"] == "queued" and small_event["user_id"] == user
    assert small_event["agent_type"] == "quiz_generator" and small_event["task_type"] == "quiz"
    assert "input_data" not in small_event and "output_data" not in small_event
    big_event = next(e["data"] for e in events if e["data"]["task_id"] == big)
    assert big_event["trimmed"] is True and big_event["status"] == "queued"
    assert set(big_event) == {"id", "task_id", "status", "updated_at", "trimmed"}
    assert wait_for(lambda: service.get_status()["forwarded"] >= 4)
    assert service.get_status()["trimmed"] == 2


def test_status_filter_keeps_other_statuses_back(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    service = bridge(realtime_statuses="completed")
    service.start()
    with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub, db(database_url) as conn:
        ids = insert_executions(conn, 3)
        wait_for(lambda: service.get_status()["filtered"] >= 3, what="3 filtered rows")
        set_status(conn, ids[:1], "completed")
        wait_for(lambda: sub.received(), what="the completed event")
    assert by_task(sub.received()) == {ids[0]: ["completed"]}


# --- per-table handlers -----------------------------------------------------------------
def test_handlers_see_their_tables_changes_even_when_not_pushed(
    bridge: Factory, database_url: str
) -> None:
    service = bridge(realtime_tables="agent_executions")
    instances: list[Change] = []
    metrics: list[Change] = []
    service.add_event_handler("agent_instances", instances.append)
    service.add_event_handler("agent_metrics", metrics.append)

    def broken(change: Change) -> None:
        raise RuntimeError("a broken handler")

    service.add_event_handler("agent_instances", broken)
    with pytest.raises(ValueError, match="unknown table"):
        service.add_event_handler("jobs", instances.append)
    service.start()
    with db(database_url) as conn:
        conn.execute(
            "INSERT INTO agent_instances (agent_id, agent_type, status, worker)"
            " VALUES ('quiz_generator@w1', 'quiz_generator', 'idle', 'w1')"
        )
        wait_for(lambda: len(instances) == 1, what="the new instance")
        # A heartbeat alone is no news (filtered in the trigger); a status change is.
        conn.execute("UPDATE agent_instances SET last_heartbeat = now()")
        conn.execute("UPDATE agent_instances SET status = 'busy', current_task_id = 't-9'")
        wait_for(lambda: len(instances) == 2, what="the busy instance")
        conn.execute(
            "INSERT INTO agent_metrics (agent_type, period_start, period_end,"
            " period_duration_minutes, tasks_completed)"
            " VALUES ('quiz_generator', now() - interval '5 min', now(), 5, 7)"
        )
        wait_for(lambda: metrics, what="the metrics row")
    assert [c.row["status"] for c in instances] == ["idle", "busy"]
    assert instances[1].row["current_task_id"] == "t-9"
    assert all(c.payload is None for c in instances)  # agent_instances is not pushed
    assert metrics[0].row["tasks_completed"] == 7 and metrics[0].payload is None
    status = wait_for(lambda: (s := service.get_status())["received"] >= 3 and s)
    assert status["received"] == 3  # the heartbeat was never announced
    assert status["handler_errors"] == 2 and status["events"] == 0
    assert status["running"]


# --- Pusher failing ----------------------------------------------------------------------
def test_error_in_a_200_answer_counts_as_failure_and_opens_the_breaker(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    # soketi answers a bad secret with HTTP 200 {"error": ..., "code": 401}.
    service = bridge(
        pusher_secret="not-the-secret-at-all",
        realtime_breaker_failures=2,
        realtime_breaker_reset_seconds=600,
        realtime_batch_window_ms=300,
    )
    service.start()
    with db(database_url) as conn:
        insert_executions(conn, 25)
    status = wait_for(
        lambda: (s := service.get_status())["dropped"] == 25 and s, what="25 dropped events"
    )
    assert status["batches"] == status["api_errors"] == 2  # the third call never made
    assert status["forwarded"] == 0 and status["events"] == 25
    assert status["breaker"] == {"state": "open", "opened": 1}
    assert "secret authentication failed" in status["last_error"]
    assert "not-the-secret-at-all" not in repr(status)


# --- a lost LISTEN connection --------------------------------------------------------------
def test_killed_listen_connection_reconnects_and_catches_up(
    bridge: Factory, soketi: SoketiServer, database_url: str
) -> None:
    service = bridge(realtime_batch_window_ms=0)
    service.start()
    dbname = database_url.rsplit("/", 1)[1]
    admin = psycopg.connect(
        database_url.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres", autocommit=True
    )
    with Subscriber(soketi.ws_url, ["agentq-executions"]) as sub, db(database_url) as conn:
        [first] = insert_executions(conn, 1)
        wait_for(lambda: by_task(sub.received()).get(first), what="the first event")
        try:
            # Keep the bridge out while changes happen, so only the catch-up can find them.
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'agentq-realtime' AND datname = %s",
                (dbname,),
            ).fetchall()
            assert killed == [(True,)]
            wait_for(lambda: not service.get_status()["connected"], what="the bridge to notice")
            missed = insert_executions(conn, 12)
            set_status(conn, [first], "completed")
            wait_for(
                lambda: "accepting" in (service.get_status()["last_error"] or ""),
                what="a refused reconnect",
            )
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
            admin.close()
        wait_for(
            lambda: (
                all(t in by_task(sub.received()) for t in missed)
                and by_task(sub.received())[first][-1] == "completed"
            ),
            what="the changes made while disconnected",
        )
    status = wait_for(lambda: (s := service.get_status())["forwarded"] >= 14 and s)
    assert status["connected"] and status["reconnects"] == 1 and status["catchups"] == 1
    assert status["dropped"] == 0


# --- the command --------------------------------------------------------------------------
def test_agentq_realtime_without_pusher_settings_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}
    res = subprocess.run(
        [sys.executable, "-m", "workers.cli", "realtime"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert "PUSHER_APP_ID" in res.stderr and "PUSHER_SECRET" in res.stderr
