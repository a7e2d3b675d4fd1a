"""The dual database: the primary is complete while the mirror is down, the outbox holds
what the mirror missed, and the replay makes both databases equal, row by row.

Two mirrors: Supabase's REST API (tests/support/postgrest.py over a second database)
and Supabase's database itself (a throwaway PostgreSQL server that the test stops).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
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
from tests.support.database import EVERY_TABLE, truncate
from tests.support.postgrest import FakePostgrest
from tests.support.servers import PostgresServer
from tests.support.workers import wait_for

MIRROR_DB = TEST_DB + "_mirror"


def sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def mirror_db(database_url: str) -> Iterator[str]:
    """A second migrated database on the same server: the REST mirror's (libpq URL)."""
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + MIRROR_DB
    MigrationService(sa(url)).run_migrations()
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{MIRROR_DB}" WITH (FORCE)')


def guard() -> MirrorGuard:
    return MirrorGuard(max_retries=2, retry_delay=0.01, breaker_failures=2, breaker_reset=0.2)


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Both databases' rows, without what each database makes up itself (surrogate ids,
    updated_at, recorded_at, heartbeats stamped with its own now())."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        executions = conn.execute(
            "SELECT e.*, i.agent_id AS instance FROM agent_executions e "
            "LEFT JOIN agent_instances i ON i.id = e.agent_instance_id ORDER BY e.task_id"
        ).fetchall()
        events = conn.execute(
            "SELECT id, task_id, status, attempt, occurred_at, worker, detail "
            "FROM agent_execution_events ORDER BY id"
        ).fetchall()
        instances = conn.execute("SELECT * FROM agent_instances ORDER BY agent_id").fetchall()
    for row in executions:
        for k in ("id", "agent_instance_id", "updated_at"):
            row.pop(k)
    for row in instances:
        for k in ("id", "created_at", "updated_at", "last_heartbeat"):
            row.pop(k)
    return {"executions": executions, "events": events, "instances": instances}


def run_with_outage(store: MirroredStore, take_down: Any, bring_back: Any) -> None:
    """Record with the mirror up, down (primary complete, outbox filled), back (replay)."""
    store.record(task_transitions("before"))
    assert store.mirror.store.get_execution("before")["status"] == "completed"
    assert outbox.backlog(store.engine) == 0

    take_down()
    for n in range(5):
        ending = TaskStatus.FAILED if n % 2 else TaskStatus.COMPLETED
        store.record(task_transitions(f"during-{n}", ending=ending))
    store.set_instances_status("w1", ["quiz_generator"], "offline", datetime.now(UTC))
    store.record(task_transitions("during-late", worker="w2"))
    store.heartbeat("w1", ["quiz_generator"])  # brings w1 back to idle, in both
    assert store.primary.get_execution("during-3")["status"] == "failed"
    assert store.primary.get_execution("during-late")["status"] == "completed"
    assert outbox.backlog(store.engine) == 8  # every call made while it was down
    assert store.mirror.guard.state == "open"

    bring_back()
    wait_for(lambda: store.mirror.replay().complete, timeout=30, what="the outbox replayed")
    assert outbox.stats(store.engine)["dead"] == 0


@pytest.fixture
def rest_mirror(clean: str, mirror_db: str) -> Iterator[tuple[MirroredStore, FakePostgrest]]:
    truncate(mirror_db)
    truncate(clean, EVERY_TABLE)
    fake = FakePostgrest(mirror_db).start()
    primary = SQLStore(clean, pool_size=2)
    rest = SupabaseRestStore(fake.url, "service-role-key", timeout=2)
    store = MirroredStore(primary, Mirror(rest, rest, primary, guard()))
    yield store, fake
    store.close()
    fake.stop()


def test_rest_mirror_down_then_replayed(rest_mirror: tuple[MirroredStore, FakePostgrest]) -> None:
    store, fake = rest_mirror
    primary_url = store.primary.url.replace("+psycopg", "")

    def down() -> None:
        fake.down = True

    def up() -> None:
        fake.down = False

    run_with_outage(store, down, up)
    assert snapshot(primary_url) == snapshot(fake.database_url)
    assert len(snapshot(primary_url)["executions"]) == 7


def test_outbox_keeps_order_and_sets_bad_rows_aside(
    rest_mirror: tuple[MirroredStore, FakePostgrest],
) -> None:
    store, fake = rest_mirror
    records = MirroredRecords(SQLRecords(store.primary), store.mirror)
    fake.down = True
    records.create_agent_instance({"agent_id": "quiz_generator@w9", "agent_type": "quiz_generator"})
    records.update_agent_instance("quiz_generator@w9", {"status": "busy"})
    records.update_agent_instance("quiz_generator@w9", {"status": "maintenance"})
    # A row the mirror will refuse (the primary took it: its enum differs from nothing,
    # so forge one as an older schema would have written it).
    outbox.append(
        store.engine,
        outbox.OP_CALL,
        {"method": "update_agent_instance", "args": ["quiz_generator@w9", {"hue": 1}]},
    )
    records.update_agent_instance("quiz_generator@w9", {"status": "idle"})
    assert outbox.backlog(store.engine) == 5
    fake.down = False
    wait_for(lambda: store.mirror.replay().complete, timeout=30, what="the outbox replayed")
    stats = outbox.stats(store.engine)
    assert (stats["backlog"], stats["dead"]) == (0, 1)
    assert "hue" in stats["last_error"]
    mirrored = SupabaseRestStore(fake.url, "k").get_agent_instance("quiz_generator@w9")
    assert mirrored is not None and mirrored["status"] == "idle"  # the last call won
    assert snapshot(store.primary.url.replace("+psycopg", "")) == snapshot(fake.database_url)


def test_replay_is_idempotent(rest_mirror: tuple[MirroredStore, FakePostgrest]) -> None:
    store, fake = rest_mirror
    batch = task_transitions("t1")
    fake.down = True
    store.record(batch)
    fake.down = False
    store.mirror.store.record(batch[1:])  # the mirror got most of it some other way
    wait_for(lambda: store.mirror.replay().complete, timeout=30, what="the outbox replayed")
    assert snapshot(store.primary.url.replace("+psycopg", "")) == snapshot(fake.database_url)


@pytest.mark.slow
def test_supabase_database_stopped_then_replayed(clean: str) -> None:
    truncate(clean, EVERY_TABLE)
    server = PostgresServer()
    server.start()
    try:
        mirror_url = server.url.rsplit("/", 1)[0] + f"/agentq_{uuid.uuid4().hex[:8]}"
        MigrationService(sa(mirror_url)).run_migrations()
        primary = SQLStore(clean, pool_size=2)
        target = SQLStore(sa(mirror_url), pool_size=1, connect_timeout=2)
        store = MirroredStore(primary, Mirror(target, SQLRecords(target), primary, guard()))
        run_with_outage(store, server.stop, server.start)
        assert snapshot(clean.replace("+psycopg", "")) == snapshot(mirror_url)
        store.close()
    finally:
        server.destroy()


def test_dual_mode_service_health_and_beat_replay(clean: str, mirror_db: str) -> None:
    from workers import stores
    from workers.beat.mirror import run_replay_outbox
    from workers.health.report import health_check
    from workers.settings import load_settings
    from workers.supabase_service import build_service

    truncate(mirror_db)
    truncate(clean, EVERY_TABLE)
    stores.get_store.cache_clear()
    fake = FakePostgrest(mirror_db).start()
    key = "service-role-key-never-shown"
    settings = load_settings(
        supabase_url=fake.url,
        supabase_service_role_key=key,
        supabase_connection_timeout=2,
        supabase_max_retries=1,
        supabase_retry_delay=0,
        outbox_degraded_seconds=0.001,
    )
    try:
        svc = build_service(settings)
        assert svc.info["mode"] == "dual: sql primary, supabase rest mirror"
        fake.down = True
        row = svc.create_agent_instance(
            {"agent_id": "quiz_generator@w1", "agent_type": "quiz_generator"}
        )
        assert svc.get_agent_instance("quiz_generator@w1") == row  # the primary has it
        seed = svc.health_check()
        assert seed["healthy"] and seed["mirror"]["backlog"] == 1
        report = health_check(settings)
        assert report["components"]["mirror"]["backlog"] == 1
        assert report["status"] != "healthy"
        assert any("supabase mirror behind: 1 outbox rows" in r for r in report["reasons"])
        assert key not in str(report) and key not in str(seed) and key not in repr(svc)

        fake.down = False
        mirror = svc.records.mirror  # type: ignore[attr-defined]
        mirror.guard.breaker.close()  # as if breaker_reset had passed
        result = run_replay_outbox(mirror)
        assert (result["replayed"], result["remaining"], result["complete"]) == (1, 0, True)
        assert snapshot(clean.replace("+psycopg", "")) == snapshot(mirror_db)
        assert "mirror" in health_check(settings)["components"]
    finally:
        fake.stop()
        stores.get_store.cache_clear()
