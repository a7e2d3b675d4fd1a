"""The Supabase CLI applies our migrations: ``supabase migration up --db-url`` on an
empty database gives exactly the schema ``agentq migrate`` creates (tables, columns,
indexes, constraints, enums and types, functions, triggers, policies, RLS flags,
grants), apart from the CLI's own bookkeeping schema. And the committed files in
``supabase/migrations`` are what the revisions render to today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from persistence.migration_service import MigrationService
from persistence.supabase_migrations import render_supabase_migrations
from tests.support.supabase_cli import (
    COMMITTED,
    ROOT,
    database_url_of,
    diff,
    snapshot,
    supabase_up,
)


def test_supabase_cli_creates_the_schema_agentq_migrate_creates(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    ours, theirs = two_databases
    files = render_supabase_migrations(tmp_path / "supabase" / "migrations")

    done = supabase_up(tmp_path, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    service = MigrationService(
        database_url_of(ours).replace("postgresql://", "postgresql+psycopg://")
    )
    service.run_migrations()

    expected, got = snapshot(database_url_of(ours)), snapshot(database_url_of(theirs))
    assert got == expected, diff(expected, got)
    with psycopg.connect(database_url_of(theirs)) as conn:
        applied = conn.execute(
            "SELECT version || '_' || name || '.sql' FROM supabase_migrations.schema_migrations "
            "ORDER BY version"
        ).fetchall()
    assert [r[0] for r in applied] == [f.name for f in files]

    # The CLI's database is at head for `agentq migrate` too: nothing left to apply.
    cli_db = MigrationService(
        database_url_of(theirs).replace("postgresql://", "postgresql+psycopg://")
    )
    assert cli_db.get_migration_status()["up_to_date"]
    assert cli_db.sync_schemas() == {"in_sync": True, "differences": []}
    # And the CLI itself, run again, applies nothing.
    again = supabase_up(tmp_path, theirs)
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(database_url_of(theirs)) == got


def test_committed_supabase_migrations_are_current(tmp_path: Path) -> None:
    files = render_supabase_migrations(tmp_path)
    committed = sorted(p.name for p in COMMITTED.glob("*.sql"))
    hint = "regenerate: agentq migrate --supabase-dir supabase/migrations"
    assert [f.name for f in files] == committed, hint
    for f in files:
        assert f.read_text() == (COMMITTED / f.name).read_text(), f"{f.name} drifted; {hint}"


def test_rendering_is_deterministic_and_removes_stale_files(tmp_path: Path) -> None:
    first = {p.name: p.read_text() for p in render_supabase_migrations(tmp_path / "a")}
    stale = tmp_path / "a" / "20200101000000_gone.sql"
    stale.write_text(next(iter(first.values())))  # a generated file of a deleted revision
    kept = tmp_path / "a" / "20200101000001_handwritten.sql"
    kept.write_text("SELECT 1;\n")
    again = {p.name: p.read_text() for p in render_supabase_migrations(tmp_path / "a")}
    assert again == first
    assert not stale.exists() and kept.exists()
    timestamps = [name[:14] for name in sorted(first)]
    assert timestamps == sorted(set(timestamps))  # strictly increasing, in revision order


def test_migrate_supabase_dir_command_follows_supabase_enable_rls(tmp_path: Path) -> None:
    def render(out: Path, rls: str) -> str:
        env = {**os.environ, "SUPABASE_ENABLE_RLS": rls}
        cmd = [sys.executable, "-m", "workers.cli", "migrate", "--supabase-dir", str(out)]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.split()) == len(list(out.glob("*.sql")))
        return next(out.glob("*_0004_supabase_rls.sql")).read_text()

    assert "CREATE POLICY" in render(tmp_path / "on", "true")
    assert "CREATE POLICY" not in render(tmp_path / "off", "false")
