"""persistence/sql/current/ is the schema's functions and triggers as the migrations leave
them: a fresh database migrated to the head defines exactly those, no more, no fewer."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from persistence.migration_service import MigrationService
from persistence.sql import CURRENT, current_definition, queries, read_sql
from tests.conftest import PG_ADMIN

_FUNCTIONS = """
    SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    ORDER BY 1, 2"""
_TRIGGERS = """
    SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
    WHERE NOT t.tgisinternal ORDER BY 1, 2"""


@pytest.fixture(scope="module")
def migrated() -> Iterator[str]:
    """A database of its own, built by the migrations alone (nothing else touched it)."""
    name = f"agentq_test_current_{os.getpid()}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    MigrationService(url.replace("postgresql://", "postgresql+psycopg://", 1)).run_migrations()
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[str, str]]]:
    return {
        "functions": conn.execute(_FUNCTIONS).fetchall(),
        "triggers": conn.execute(_TRIGGERS).fetchall(),
    }


def test_the_migrations_end_at_exactly_the_current_files(migrated: str) -> None:
    with psycopg.connect(migrated) as conn:
        before = _snapshot(conn)
        for filename in CURRENT:
            conn.execute(read_sql(filename))
        after = _snapshot(conn)
        conn.rollback()
    # Applying the current files changes nothing (same text) and adds nothing (no
    # definition the migrations lack) ...
    assert after == before
    # ... and they name every function and trigger there (none left to an old migration).
    assert sorted(queries(CURRENT[0])) == sorted({n for n, _ in before["functions"]})
    assert sorted(queries(CURRENT[1])) == sorted({n for n, _ in before["triggers"]})


def test_a_changed_body_is_seen(migrated: str) -> None:
    """The comparison is not blind: one character changed in a body shows."""
    changed = current_definition("agentq_bucket").replace("'+Inf'", "'+inf'")
    with psycopg.connect(migrated) as conn:
        before = _snapshot(conn)
        conn.execute(changed)
        assert _snapshot(conn) != before
        conn.rollback()


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(KeyError, match="no function or trigger 'agentq_nope'"):
        current_definition("agentq_nope")
