"""Revision 0009 on real PostgreSQL: the agent tables are in ``supabase_realtime`` (what
supabase-js ``postgres_changes`` reads) after ``agentq migrate`` and after the Supabase
CLI's migrations; the downgrade leaves 0008's schema exactly, and a publication it did
not create (Supabase's own) stays, with everything it held that is not ours."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command

from persistence.migration_service import MigrationService
from persistence.supabase_migrations import render_supabase_migrations
from tests.conftest import PG_ADMIN
from tests.support.supabase_cli import database_url_of, snapshot, supabase_up

OURS = ["agent_executions", "agent_instances", "agent_metrics", "system_health"]
BEFORE = "0008_executions_instance_index"


def published(url: str) -> list[str] | None:
    """Tables in supabase_realtime (None: no such publication)."""
    with psycopg.connect(url) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime'"
        ).fetchone():
            return None
        rows = conn.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = 'supabase_realtime'"
        ).fetchall()
    return sorted(r[0] for r in rows)


def _execute(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _service(name: str) -> MigrationService:
    return MigrationService(database_url_of(name).replace("postgresql://", "postgresql+psycopg://"))


@pytest.fixture
def fresh() -> Iterator[str]:
    """The name of a new, empty database (dropped afterwards)."""
    name = f"agentq_pub_{uuid.uuid4().hex[:10]}"
    _execute(PG_ADMIN, f'CREATE DATABASE "{name}"')
    yield name
    _execute(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_agentq_migrate_publishes_the_agent_tables(database_url: str) -> None:
    assert published(database_url.replace("+psycopg", "")) == OURS


def test_the_supabase_cli_migrations_publish_them_too(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    _, theirs = two_databases
    render_supabase_migrations(tmp_path / "supabase" / "migrations")
    done = supabase_up(tmp_path, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert published(database_url_of(theirs)) == OURS


def _schema(name: str) -> dict[str, list[tuple[Any, ...]]]:
    return snapshot(database_url_of(name))


def test_downgrade_restores_0008_and_drops_the_publication_it_created(fresh: str) -> None:
    reference = f"{fresh}_ref"
    _execute(PG_ADMIN, f'CREATE DATABASE "{reference}"')
    try:
        _service(reference).run_migrations(BEFORE)
        service = _service(fresh)
        service.run_migrations()
        assert published(database_url_of(fresh)) == OURS
        command.downgrade(service._config(), BEFORE)
        assert published(database_url_of(fresh)) is None
        # Triggers, functions (the recorder's without its SET clause) as 0008 left them.
        assert _schema(fresh) == _schema(reference)
        # And up again: the same as the first time (idempotent SQL, no leftovers).
        service.run_migrations()
        assert published(database_url_of(fresh)) == OURS
    finally:
        _execute(PG_ADMIN, f'DROP DATABASE IF EXISTS "{reference}" WITH (FORCE)')


def test_an_existing_publication_is_joined_and_kept(fresh: str) -> None:
    """As on Supabase: supabase_realtime exists (not ours), maybe with one of our tables."""
    url = database_url_of(fresh)
    service = _service(fresh)
    service.run_migrations(BEFORE)
    _execute(url, "CREATE PUBLICATION supabase_realtime FOR TABLE agent_metrics")
    service.run_migrations()
    assert published(url) == OURS
    command.downgrade(service._config(), BEFORE)
    assert published(url) == []  # ours left it; the publication itself is not ours to drop


def test_a_publication_for_all_tables_is_left_alone(fresh: str) -> None:
    url = database_url_of(fresh)
    service = _service(fresh)
    service.run_migrations(BEFORE)
    _execute(url, "CREATE PUBLICATION supabase_realtime FOR ALL TABLES")
    service.run_migrations()
    assert set(OURS) <= set(published(url) or [])
    command.downgrade(service._config(), BEFORE)
    assert set(OURS) <= set(published(url) or [])  # FOR ALL TABLES still holds them
