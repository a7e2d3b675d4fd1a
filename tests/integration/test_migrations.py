"""Migrations: idempotent, safe when run concurrently, rendered as SQL, no drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence import migration_service
from persistence.migration_service import MigrationService
from tests.conftest import PG_ADMIN
from tests.support.catalog import catalog, changed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """The name of a database that does not exist yet (dropped afterwards)."""
    name = f"agentq_mig_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def test_two_concurrent_migrate_commands_create_the_schema_once(fresh_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": _url(fresh_db)}
    cmd = [sys.executable, "-m", "workers.cli", "migrate"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    service = MigrationService(_url(fresh_db).replace("postgresql://", "postgresql+psycopg://"))
    status = service.get_migration_status()
    assert status["up_to_date"] and status["pending"] == []
    assert service.sync_schemas() == {"in_sync": True, "differences": []}
    # Idempotent: once more changes nothing.
    again = service.run_migrations()
    assert again["applied"] == [] and again["from"] == again["to"] == status["head"]


def test_schema_has_the_seed_enums_verbatim(database_url: str) -> None:
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) "
            "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"
        ).fetchall()
    enums = dict(rows)
    assert enums["task_status"] == [
        "pending",
        "queued",
        "running",
        "completed",
        "failed",
        "cancelled",
        "retrying",
    ]
    assert enums["agent_status"][:3] == ["initializing", "idle", "busy"]
    assert len(enums["agent_type"]) == 8


def test_migrate_sql_renders_the_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate", "--sql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for table in (
        "agent_instances",
        "agent_executions",
        "agent_execution_events",
        "agent_metrics",
        "system_health",
    ):
        assert f"CREATE TABLE {table}" in out


def test_sync_schemas_reports_drift(fresh_db: str) -> None:
    url = _url(fresh_db).replace("postgresql://", "postgresql+psycopg://")
    service = MigrationService(url)
    service.run_migrations()
    with psycopg.connect(_url(fresh_db), autocommit=True) as conn:
        conn.execute("ALTER TABLE agent_executions DROP COLUMN worker")
    drift = service.sync_schemas()
    assert not drift["in_sync"]
    assert any("worker" in d for d in drift["differences"])


def test_create_migration_writes_a_revision(
    fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migration_service.MIGRATIONS_DIR, copy)
    monkeypatch.setattr(migration_service, "MIGRATIONS_DIR", copy)
    url = _url(fresh_db).replace("postgresql://", "postgresql+psycopg://")
    service = MigrationService(url)
    service.run_migrations()
    path = Path(service.create_migration("add nothing"))
    assert path.exists() and path.parent == copy / "versions"
    assert "add nothing" in path.read_text()


def _functions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname LIKE 'agentq_record_batch%'"
        ).fetchall()
    return {r[0] for r in rows}


def test_downgrading_the_record_batch_revisions_removes_their_functions(fresh_db: str) -> None:
    """0006's downgrade named the function with the wrong argument type (jsonb for json)
    and silently dropped nothing; 0007's drops its own and puts 0006's back."""
    from alembic import command

    service = MigrationService(_url(fresh_db))
    service.run_migrations()
    assert _functions(_url(fresh_db)) == {"agentq_record_batch", "agentq_record_batch_within"}
    command.downgrade(service._config(), "0006_record_batch")
    assert _functions(_url(fresh_db)) == {"agentq_record_batch"}
    command.downgrade(service._config(), "0005_mirror_outbox")
    assert _functions(_url(fresh_db)) == set()
    service.run_migrations()  # and up again
    assert _functions(_url(fresh_db)) == {"agentq_record_batch", "agentq_record_batch_within"}


# --- downgrades: every revision undoes exactly what its upgrade made ------------------


def _record_one(url: str) -> dict[str, object]:
    from datetime import UTC, datetime

    from persistence.lifecycle import TaskStatus, Transition
    from persistence.sql_store import SQLStore

    store = SQLStore(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
    try:
        at = datetime.now(UTC)
        store.record(
            [
                Transition(uuid.uuid4(), "t-1", s, 0, at, "quiz_generator", "quiz", worker="w@h")
                for s in (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.COMPLETED)
            ]
        )
        row = store.get_execution("t-1")
    finally:
        store.close()
    assert row is not None
    return row


def test_every_downgrade_undoes_its_upgrade_down_to_nothing(fresh_db: str) -> None:
    """Up one revision at a time from an empty database, recording the catalogs at each;
    then down one at a time: at every revision the catalogs are exactly what they were on
    the way up (a downgrade that forgets a function, trigger, type, policy, grant or
    publication membership shows here), and at base nothing of ours is left, the
    alembic_version table included. Then up again, and a record call works."""
    url = _url(fresh_db)
    service = MigrationService(url)
    service.ensure_database()
    empty = catalog(url)
    up = service.plan("head")["steps"]
    assert up[0]["revision"] == "0001_initial" and len(up) >= 8
    seen = {None: empty}
    for step in up:
        done = service.run_migrations(step["revision"])
        assert done["applied"] == [step["revision"]] and done["to"] == step["revision"]
        seen[step["revision"]] = catalog(url)
    assert changed(empty, seen[up[-1]["revision"]])  # the test sees what migrations make

    down = service.plan("base")
    assert down["direction"] == "down"
    assert [s["revision"] for s in down["steps"]] == [s["revision"] for s in reversed(up)]
    targets = [s["revision"] for s in down["steps"][1:]] + [None]
    for step, target in zip(down["steps"], targets, strict=True):
        done = service.downgrade(target or "base")
        assert done["removed"] == [step["revision"]] and done["to"] == target
        assert changed(seen[target], catalog(url)) == [], f"downgrade of {step['revision']}"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
        leftovers = conn.execute(
            "SELECT proname FROM pg_proc WHERE proname LIKE 'agentq%' UNION ALL "
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' UNION ALL "
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' UNION ALL SELECT polname FROM pg_policy UNION ALL "
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
            "SELECT prrelid::regclass::text FROM pg_publication_rel"
        ).fetchall()
    assert leftovers == []

    again = service.run_migrations()
    assert again["from"] is None and again["applied"] == [s["revision"] for s in up]
    assert again["duration_seconds"] >= 0
    assert changed(seen[up[-1]["revision"]], catalog(url)) == []
    assert _record_one(url)["status"] == "completed"


def test_run_migrations_refuses_to_go_down_and_names_unknown_revisions(fresh_db: str) -> None:
    from persistence.migration_service import MigrationError

    service = MigrationService(_url(fresh_db))
    service.run_migrations()
    with pytest.raises(MigrationError, match="below the current revision"):
        service.run_migrations("0001_initial")
    with pytest.raises(MigrationError, match="no-such-rev"):
        service.plan("no-such-rev")
    assert service.get_migration_status()["up_to_date"]
    with psycopg.connect(_url(fresh_db), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(MigrationError, match="9999_from_the_future, which this code does not"):
        service.run_migrations()


def _agentq(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_down_is_refused_without_yes_and_done_with_it(fresh_db: str) -> None:
    url = _url(fresh_db)
    assert _agentq(url=url).returncode == 0
    head = MigrationService(url).get_migration_status()["head"]
    before = catalog(url)

    refused = _agentq("--revision", "base", url=url)
    assert refused.returncode == 1
    assert "refusing to downgrade" in refused.stderr and "--yes" in refused.stderr
    # every revision it would remove, with its one-line description
    assert f"{head}: " in refused.stderr
    assert "0001_initial: The integration design's agent tables and enums" in refused.stderr
    assert changed(before, catalog(url)) == []  # nothing was touched

    one = _agentq("--revision", "0007_record_batch_speed", "--yes", "--json", url=url)
    assert one.returncode == 0, one.stderr
    done = json.loads(one.stdout)
    assert done["from"] == head and done["to"] == "0007_record_batch_speed"
    assert done["removed"][-1] == "0008_executions_instance_index"

    gone = _agentq("--revision", "base", "--yes", "--json", url=url)
    assert gone.returncode == 0, gone.stderr
    done = json.loads(gone.stdout)
    assert done["to"] is None and done["removed"][-1] == "0001_initial"
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchall()
    assert tables == []
    assert _agentq(url=url).returncode == 0  # and back up
    assert changed(before, catalog(url)) == []
