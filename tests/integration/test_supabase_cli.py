"""The Supabase CLI applies our migrations: ``supabase migration up --db-url`` on an
empty database gives exactly the schema ``agentq migrate`` creates (tables, columns,
indexes, constraints, enums and types, functions, triggers, policies, RLS flags,
grants), apart from the CLI's own bookkeeping schema. And the committed files in
``supabase/migrations`` are what the revisions render to today."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from persistence.migration_service import MigrationService
from persistence.supabase_migrations import render_supabase_migrations
from tests.conftest import PG_ADMIN

ROOT = Path(__file__).resolve().parents[2]
SUPABASE_CLI = ROOT / "node_modules" / ".bin" / "supabase"
COMMITTED = ROOT / "supabase" / "migrations"
SCHEMAS = ["public", "auth"]

# Everything a migration defines, per kind, as sorted rows (schemas public and auth).
SNAPSHOT: dict[str, str] = {
    "columns": """
        SELECT table_schema, table_name, column_name, ordinal_position, data_type, udt_name,
               is_nullable, column_default, is_identity, identity_generation
        FROM information_schema.columns WHERE table_schema = ANY(%(s)s)""",
    "indexes": "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname = ANY(%(s)s)",
    "constraints": """
        SELECT n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%(s)s)""",
    "types": """
        SELECT n.nspname, t.typname, t.typtype,
               (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)
                FROM pg_enum e WHERE e.enumtypid = t.oid)::text,
               (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0)::text
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE n.nspname = ANY(%(s)s) AND t.typtype IN ('e', 'c', 'd')
          AND (c.relkind IS NULL OR c.relkind = 'c')""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_functiondef(p.oid), p.proacl::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(s)s)""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname = ANY(%(s)s)""",
    "policies": "SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, "
    "qual, with_check FROM pg_policies WHERE schemaname = ANY(%(s)s)",
    "tables": """
        SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               c.relacl::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(s)s) AND c.relkind IN ('r', 'v', 'm', 'S', 'p')""",
    "schemas": "SELECT nspname, nspacl::text, obj_description(oid, 'pg_namespace') "
    "FROM pg_namespace WHERE nspname = ANY(%(s)s)",
    "alembic_version": "SELECT version_num FROM alembic_version",
}


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            kind: sorted(conn.execute(sql, {"s": SCHEMAS}).fetchall(), key=repr)
            for kind, sql in SNAPSHOT.items()
        }


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines: list[str] = []
    for kind in SNAPSHOT:
        left = [repr(r) for r in a[kind]]
        right = [repr(r) for r in b[kind]]
        lines += difflib.unified_diff(left, right, f"agentq migrate {kind}", f"supabase {kind}")
    return "\n".join(lines)


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def _cli() -> str:
    if SUPABASE_CLI.exists():
        return str(SUPABASE_CLI)
    found = shutil.which("supabase")
    if found:
        return found
    msg = "the Supabase CLI is not installed (npm install)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """Names of an `agentq migrate` database and an empty one for the CLI."""
    names = [f"agentq_sb_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{names[1]}"')
    yield names[0], names[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _supabase_up(workdir: Path, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _cli(),
            "migration",
            "up",
            "--workdir",
            str(workdir),
            "--db-url",
            _url(database) + "?sslmode=disable",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"},
    )


def test_supabase_cli_creates_the_schema_agentq_migrate_creates(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    ours, theirs = two_databases
    files = render_supabase_migrations(tmp_path / "supabase" / "migrations")

    done = _supabase_up(tmp_path, theirs)
    assert done.returncode == 0, done.stdout + done.stderr
    service = MigrationService(_url(ours).replace("postgresql://", "postgresql+psycopg://"))
    service.run_migrations()

    expected, got = _snapshot(_url(ours)), _snapshot(_url(theirs))
    assert got == expected, _diff(expected, got)
    with psycopg.connect(_url(theirs)) as conn:
        applied = conn.execute(
            "SELECT version || '_' || name || '.sql' FROM supabase_migrations.schema_migrations "
            "ORDER BY version"
        ).fetchall()
    assert [r[0] for r in applied] == [f.name for f in files]

    # The CLI's database is at head for `agentq migrate` too: nothing left to apply.
    cli_db = MigrationService(_url(theirs).replace("postgresql://", "postgresql+psycopg://"))
    assert cli_db.get_migration_status()["up_to_date"]
    assert cli_db.sync_schemas() == {"in_sync": True, "differences": []}
    # And the CLI itself, run again, applies nothing.
    again = _supabase_up(tmp_path, theirs)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _snapshot(_url(theirs)) == got


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
