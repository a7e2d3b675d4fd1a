"""Beat's writes reach the Supabase mirror: metrics, system health, the reaper and
retention, with the mirror down across them, are in the mirror after the replay, and
both databases are equal row by row on every table.

Two mirrors, each a second real database: Supabase's own database (a throwaway
PostgreSQL server the test stops) and Supabase's REST API (tests/support/postgrest.py
over a second database on the test server). Beat's functions are driven directly, with
explicit settings and stores, at chosen times: no beat process, no waiting for periods.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from persistence import outbox
from persistence.lifecycle import TaskStatus
from persistence.migration_service import MigrationService
from persistence.mirror import Mirror, MirroredRecords, MirroredStore, MirrorGuard
from persistence.sql_records import SQLRecords
from persistence.sql_store import SQLStore
from persistence.supabase_rest import SupabaseRestStore
from tests.conftest import PG_ADMIN, TEST_DB
from tests.support.batches import task_transitions
from tests.support.database import EVERY_TABLE, libpq_url, truncate
from tests.support.postgrest import FakePostgrest
from tests.support.servers import PostgresServer
from tests.support.workers import wait_for

AGENT = "quiz_generator"
REST_DB = TEST_DB + "_beat_mirror"
# Columns each database stamps itself (surrogate ids of rows the lifecycle merge
# creates, now() stamps); instance references are compared by the instance's agent_id.
OWN_COLUMNS = {
    "agent_instances": ("id", "created_at", "updated_at", "last_heartbeat"),
    "agent_executions": ("id", "agent_instance_id", "updated_at"),
    "agent_execution_events": ("recorded_at",),
    "agent_metrics": ("agent_instance_id",),
    "system_health": (),
}
TABLES = {
    "agent_instances": "SELECT * FROM agent_instances ORDER BY agent_id",
    "agent_executions": "SELECT t.*, i.agent_id AS instance FROM agent_executions t "
    "LEFT JOIN agent_instances i ON i.id = t.agent_instance_id ORDER BY t.task_id",
    "agent_execution_events": "SELECT * FROM agent_execution_events ORDER BY id",
    "agent_metrics": "SELECT t.*, i.agent_id AS instance FROM agent_metrics t "
    "LEFT JOIN agent_instances i ON i.id = t.agent_instance_id ORDER BY t.id",
    "system_health": "SELECT * FROM system_health ORDER BY id",
}


def sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every recording table, every column but each database's own stamps (OWN_COLUMNS),
    ordered by the primary key (by the natural key where the merge makes the id)."""
    # mirror_outbox is the primary's own queue; agentq_task_counts is derived by each
    # database's record function (sharded by its own backends), not a mirrored table.
    assert set(TABLES) | {"mirror_outbox", "agentq_task_counts"} == set(EVERY_TABLE)
    out = {}
    with psycopg.connect(libpq_url(url), row_factory=dict_row) as conn:
        for table, query in TABLES.items():
            rows = conn.execute(query).fetchall()
            out[table] = [{k: v for k, v in r.items() if k not in OWN_COLUMNS[table]} for r in rows]
    return out


@dataclass
class Dual:
    """The primary, a mirror of one kind, and the switch that makes it unreachable."""

    primary: SQLStore
    mirror: Mirror
    mirror_url: str
    _down: Callable[[], None]
    _up: Callable[[], None]
    is_down: bool = False

    def take_down(self) -> None:
        self._down()
        self.is_down = True

    def bring_back(self) -> None:
        self._up()
        self.is_down = False


def guard() -> MirrorGuard:
    return MirrorGuard(max_retries=1, retry_delay=0.01, breaker_failures=2, breaker_reset=0.2)


@pytest.fixture(scope="module")
def sql_mirror_server() -> Iterator[tuple[PostgresServer, str]]:
    """Supabase's database stand-in: a server of its own, so that the test can stop it."""
    server = PostgresServer()
    server.start()
    try:
        url = server.url.rsplit("/", 1)[0] + "/agentq_mirror"
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE agentq_mirror")
        MigrationService(sa(url)).run_migrations()
        yield server, url
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def rest_mirror_db(database_url: str) -> Iterator[str]:
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + REST_DB
    MigrationService(sa(url)).run_migrations()
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{REST_DB}" WITH (FORCE)')


@pytest.fixture(params=["sql", "rest"])
def dual(request: pytest.FixtureRequest, clean: str) -> Iterator[Dual]:
    """The primary (the session's database) and a mirror of one kind, both emptied."""
    truncate(clean, EVERY_TABLE)
    primary = SQLStore(clean, pool_size=2)
    fake: FakePostgrest | None = None
    if request.param == "sql":
        server, url = request.getfixturevalue("sql_mirror_server")
        truncate(url, EVERY_TABLE)
        target: Any = SQLStore(sa(url), pool_size=1, connect_timeout=2)
        mirror = Mirror(target, SQLRecords(target), primary, guard())
        dual = Dual(primary, mirror, url, server.stop, server.start)
    else:
        url = request.getfixturevalue("rest_mirror_db")
        truncate(url, EVERY_TABLE)
        fake = FakePostgrest(url).start()
        rest = SupabaseRestStore(fake.url, "service-role-key", timeout=2)

        def switch(down: bool) -> Callable[[], None]:
            def flip() -> None:
                assert fake is not None
                fake.down = down

            return flip

        mirror = Mirror(rest, rest, primary, guard())
        dual = Dual(primary, mirror, url, switch(True), switch(False))
    try:
        yield dual
    finally:
        if dual.is_down:
            dual.bring_back()
        if fake is not None:
            fake.stop()
        MirroredStore(primary, mirror).close()


def test_beat_writes_reach_the_mirror_through_an_outage(dual: Dual) -> None:
    from workers.beat.housekeeping import run_reap_stale, run_retention, run_system_health
    from workers.beat.metrics import run_aggregate_metrics
    from workers.beat.mirror import run_replay_outbox
    from workers.settings import load_settings

    settings = load_settings(
        stale_agent_seconds=600,
        visibility_timeout=60,
        metrics_period_minutes=5,
        retention_executions_days=30,
        retention_metrics_days=30,
        retention_health_days=14,
        retention_batch=2,  # several batches: several deletes to mirror
    )
    primary, mirror = dual.primary, dual.mirror
    store = MirroredStore(primary, mirror)  # what the recorder writes in dual mode
    service = MirroredRecords(SQLRecords(primary), mirror)  # SupabaseService's records
    beat: dict[str, Any] = {"settings": settings, "store": primary, "mirror": mirror}
    now = datetime.now(UTC)
    old = now - timedelta(days=40)

    # --- mirror up: old rows for retention, a worker about to be lost -----------------
    store.record(task_transitions("old-done", worker="w-old", t0=old))
    store.record(task_transitions("old-failed", worker="w-old", t0=old, ending=TaskStatus.FAILED))
    assert run_aggregate_metrics(**beat, now=old + timedelta(minutes=10)) == 2
    service.store_system_health({"timestamp": now - timedelta(days=20), "status": "healthy"})
    an_hour_ago = now - timedelta(hours=1)
    store.set_instances_status("w-lost", [AGENT], "idle", an_hour_ago)  # its last heartbeat
    store.record(task_transitions("lost-run", worker="w-lost", t0=an_hour_ago)[:3])  # running
    assert outbox.backlog(primary) == 0
    assert snapshot(primary.url) == snapshot(dual.mirror_url)

    # --- mirror down across two metric periods, the reaper and retention --------------
    dual.take_down()
    period = timedelta(minutes=5)
    current = datetime.fromtimestamp(now.timestamp() // 300 * 300, UTC)  # its start
    p1, p2 = current - 2 * period, current - period
    store.record(task_transitions("p1-done", t0=p1 + timedelta(seconds=10)))
    assert run_aggregate_metrics(**beat, now=p2 + timedelta(seconds=1)) == 2  # p1 closed
    store.record(task_transitions("p2-done", t0=p2 + timedelta(seconds=10)))
    store.record(
        task_transitions("p2-failed", t0=p2 + timedelta(seconds=20), ending=TaskStatus.FAILED)
    )
    assert run_aggregate_metrics(**beat) == 4  # p1 again (the latest is redone) and p2
    # A service call moving a completed row back: refused by the merge, kept in history.
    service.update_task_execution("p2-done", {"status": "running", "user_rating": 4})
    first = run_system_health(**beat)
    second = run_system_health(**beat)
    assert first["id"] and second["id"]
    assert run_reap_stale(**beat) == {
        "instances_offline": 1,
        "executions_lost": 1,
        "reports_forgotten": 0,
    }
    purged = run_retention(**beat)
    assert (purged["agent_executions"], purged["agent_metrics"], purged["system_health"]) == (
        2,
        2,
        1,
    )

    lost = primary.get_execution("lost-run")
    assert lost is not None and (lost["status"], lost["error_message"]) == ("failed", "worker lost")
    done = primary.get_execution("p2-done")
    assert done is not None and done["status"] == "completed" and done["user_rating"] == 4
    assert [h["status"] for h in done["history"]][-1] == "running"
    assert primary.get_execution("old-done") is None
    with psycopg.connect(libpq_url(primary.url)) as conn:
        ops = {r[0] for r in conn.execute("SELECT DISTINCT op FROM mirror_outbox")}
    assert {"record", "call", "metrics", "health", "offline", "purge"} <= ops
    assert mirror.guard.state == "open"

    # --- mirror back: the replay, then both databases equal ----------------------------
    dual.bring_back()
    wait_for(
        lambda: run_replay_outbox(mirror, chunk=5)["complete"],
        timeout=60,
        what="the outbox replayed",
    )
    assert outbox.stats(primary)["dead"] == 0
    want, got = snapshot(primary.url), snapshot(dual.mirror_url)
    for table in TABLES:
        assert got[table] == want[table], table
    counts = {t: len(rows) for t, rows in want.items()}
    assert counts == {
        "agent_instances": 3,  # w-old, w-lost (offline), w1
        "agent_executions": 4,  # lost-run (failed), p1-done, p2-done, p2-failed
        "agent_execution_events": 17,  # 4 each, + failed (lost) + running (the service)
        "agent_metrics": 4,  # p1 and p2, per instance and per type
        "system_health": 2,
    }
    instances = {r["agent_id"]: r["status"] for r in got["agent_instances"]}
    assert instances[f"{AGENT}@w-lost"] == "offline"


def test_metric_rows_converge_and_unknown_instances_are_set_aside(dual: Dual) -> None:
    """A metric row the mirror holds under its own id (written before rows carried the
    primary's) takes the primary's id and values; rows naming an instance the mirror
    does not have are refused once and kept dead, not retried forever."""
    from persistence.metrics import metrics_rows

    primary, mirror = dual.primary, dual.mirror
    store = MirroredStore(primary, mirror)
    store.record(task_transitions("t-1"))  # the instance quiz_generator@w1, in both
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    for key in ({"agent_type": AGENT}, {"agent_id": f"{AGENT}@w1"}):
        row = {**key, "period_start": start, "period_end": start + timedelta(minutes=5)}
        SQLRecords(primary).store_agent_metrics({**row, "tasks_completed": 2})
        mirror.records.store_agent_metrics({**row, "tasks_completed": 1})  # another id
    with psycopg.connect(libpq_url(primary.url)) as conn:
        ids = [str(r[0]) for r in conn.execute("SELECT id FROM agent_metrics")]
    rows = metrics_rows(primary, ids)
    assert mirror.effect(outbox.OP_METRICS, {"rows": rows}, len(rows)) is True
    assert snapshot(primary.url) == snapshot(dual.mirror_url)

    ghost = [{**rows[0], "id": str(uuid.uuid4()), "agent_id": f"{AGENT}@ghost"}]
    assert mirror.effect(outbox.OP_METRICS, {"rows": ghost}, 1) is False  # queued
    result = mirror.replay()
    assert (result.dead, result.remaining) == (1, 0)
    assert "no agent instance quiz_generator@ghost" in outbox.stats(primary)["last_error"]
