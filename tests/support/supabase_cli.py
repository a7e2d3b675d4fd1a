"""The Supabase CLI for the tests: run ``supabase migration up`` on a database of the
machine's PostgreSQL, and a snapshot of a database's schema to compare two of them
(tests/integration/test_supabase_cli.py, test_realtime_publication.py)."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

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


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            kind: sorted(conn.execute(sql, {"s": SCHEMAS}).fetchall(), key=repr)
            for kind, sql in SNAPSHOT.items()
        }


def diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines: list[str] = []
    for kind in SNAPSHOT:
        left = [repr(r) for r in a[kind]]
        right = [repr(r) for r in b[kind]]
        lines += difflib.unified_diff(left, right, f"agentq migrate {kind}", f"supabase {kind}")
    return "\n".join(lines)


def database_url_of(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def supabase_cli() -> str:
    if SUPABASE_CLI.exists():
        return str(SUPABASE_CLI)
    found = shutil.which("supabase")
    if found:
        return found
    msg = "the Supabase CLI is not installed (npm install)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def supabase_up(workdir: Path, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            supabase_cli(),
            "migration",
            "up",
            "--workdir",
            str(workdir),
            "--db-url",
            database_url_of(database) + "?sslmode=disable",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"},
    )
