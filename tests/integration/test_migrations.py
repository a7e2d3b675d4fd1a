"""Migrations: idempotent, safe when run concurrently, rendered as SQL, no drift."""

from __future__ import annotations

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
    assert service.run_migrations() == status["head"]


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
