"""Row Level Security (migration 0004) proved on PostgreSQL, as each role, the way
PostgREST runs a request: in a transaction, ``SET LOCAL ROLE <role>`` and
``set_config('request.jwt.claims', <claims>, true)``. Never as ``postgres``: owners
and superusers bypass RLS.

The rule (the integration design's): anon sees nothing, authenticated reads, service_role does
everything, on every table. Internal tables (the mirror's outbox) are not readable by
authenticated either. A new table in ``persistence.schema`` must get a sample here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from persistence.migration_service import MigrationService
from persistence.schema import metadata
from persistence.sql import read_sql
from tests.conftest import PG_ADMIN
from tests.support.database import EVERY_TABLE, truncate

TASK = "rls-task"
# Per table: an INSERT any role may try, and an UPDATE touching every row.
SAMPLES: dict[str, tuple[str, str]] = {
    "agent_instances": (
        "INSERT INTO agent_instances (agent_id, agent_type) VALUES (%(key)s, 'quiz_generator')",
        "UPDATE agent_instances SET status = 'idle'",
    ),
    "agent_executions": (
        "INSERT INTO agent_executions (task_id, agent_type, task_type) "
        "VALUES (%(key)s, 'quiz_generator', 'quiz')",
        "UPDATE agent_executions SET user_rating = 5",
    ),
    "agent_execution_events": (
        "INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at) "
        f"VALUES (gen_random_uuid(), '{TASK}', 'queued', 0, now())",
        "UPDATE agent_execution_events SET worker = 'w'",
    ),
    "agent_metrics": (
        "INSERT INTO agent_metrics (agent_type, period_start, period_end, "
        "period_duration_minutes) VALUES ('quiz_generator', now(), now() + interval '5 min', 5)",
        "UPDATE agent_metrics SET tasks_completed = 1",
    ),
    "system_health": (
        "INSERT INTO system_health (status) VALUES (%(key)s)",
        "UPDATE system_health SET warnings = 1",
    ),
    "mirror_outbox": (
        "INSERT INTO mirror_outbox (op, payload) VALUES ('call', '{}'::jsonb)",
        "UPDATE mirror_outbox SET attempts = 1",
    ),
    "agentq_task_counts": (
        "INSERT INTO agentq_task_counts (shard, agent_type, metric, label) "
        "VALUES (0, 'quiz_generator', 'tasks', %(key)s)",
        "UPDATE agentq_task_counts SET n = n + 1",
    ),
}
READABLE_BY_AUTHENTICATED = {
    "agent_instances",
    "agent_executions",
    "agent_execution_events",
    "agent_metrics",
    "system_health",
}
ROLES = ("anon", "authenticated", "service_role")
DENIED = "denied"


def _plain(url: str) -> str:
    return url.replace("+psycopg", "")


@pytest.fixture
def one_row_each(clean: str) -> Iterator[str]:
    """Exactly one row in every table, written by the owner; emptied afterwards."""
    url = _plain(clean)
    truncate(url, EVERY_TABLE)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_executions (task_id, agent_type, task_type) "
            "VALUES (%s, 'quiz_generator', 'quiz')",
            (TASK,),
        )
        for table, (insert, _) in SAMPLES.items():
            if table != "agent_executions":
                conn.execute(insert, {"key": f"owner-{table}"})
    yield url
    truncate(url, EVERY_TABLE)


def _as(conn: psycopg.Connection[Any], role: str, claims: dict[str, Any] | None) -> None:
    """What PostgREST does at the start of every request's transaction."""
    conn.execute(f"SET LOCAL ROLE {role}")
    if claims is not None:
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def _try(
    url: str, role: str, claims: dict[str, Any] | None, sql: str, params: Any = None
) -> int | str:
    """Rows seen (SELECT) or affected (INSERT/UPDATE/DELETE), or DENIED; rolled back."""
    with psycopg.connect(url) as conn:
        try:
            _as(conn, role, claims)
            cur = conn.execute(sql, params)
            return len(cur.fetchall()) if sql.startswith("SELECT") else cur.rowcount
        except psycopg.errors.InsufficientPrivilege:
            return DENIED
        finally:
            conn.rollback()


def _matrix(url: str, table: str, role: str, claims: dict[str, Any] | None) -> dict[str, Any]:
    insert, update = SAMPLES[table]
    return {
        "select": _try(url, role, claims, f"SELECT * FROM {table}"),
        "insert": _try(url, role, claims, insert, {"key": f"{role}-{uuid.uuid4()}"}),
        "update": _try(url, role, claims, update),
        "delete": _try(url, role, claims, f"DELETE FROM {table}"),
    }


def _expected(table: str, role: str) -> dict[str, Any]:
    if role == "service_role":
        return {"select": 1, "insert": 1, "update": 1, "delete": 1}
    seen = 1 if role == "authenticated" and table in READABLE_BY_AUTHENTICATED else 0
    return {"select": seen, "insert": DENIED, "update": DENIED, "delete": DENIED}


def test_every_table_has_a_sample() -> None:
    assert set(SAMPLES) == set(metadata.tables)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("table", sorted(SAMPLES))
def test_role_matrix(one_row_each: str, table: str, role: str) -> None:
    claims = {"role": role, "sub": str(uuid.uuid4()), "aud": role}
    assert _matrix(one_row_each, table, role, claims) == _expected(table, role)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_forged_service_role_claims_grant_nothing(one_row_each: str, role: str) -> None:
    # The policies name their role: claims alone never open a table.
    forged = {"role": "service_role"}
    got = _matrix(one_row_each, "agent_executions", role, forged)
    assert got == {"select": 0, "insert": DENIED, "update": DENIED, "delete": DENIED}


def test_auth_shim_reads_the_claims_as_postgrest_sets_them(database_url: str) -> None:
    sub = str(uuid.uuid4())
    with psycopg.connect(_plain(database_url)) as conn:
        try:
            _as(conn, "authenticated", {"role": "authenticated", "sub": sub, "aud": "x"})
            row = conn.execute("SELECT auth.role(), auth.uid()::text, auth.jwt() ->> 'aud'")
            assert row.fetchone() == ("authenticated", sub, "x")
            # PostgREST before v9 set one setting per claim; those win, as on Supabase.
            conn.execute("SELECT set_config('request.jwt.claim.role', 'anon', true)")
            assert conn.execute("SELECT auth.role()").fetchone() == ("anon",)
        finally:
            conn.rollback()
        assert conn.execute("SELECT auth.role(), auth.uid(), auth.jwt()").fetchone() == (
            None,
            None,
            None,
        )


def test_authenticated_without_claims_reads_nothing(one_row_each: str) -> None:
    assert _try(one_row_each, "authenticated", None, "SELECT * FROM agent_executions") == 0


def test_service_role_policy_serves_a_member_without_bypassrls(one_row_each: str) -> None:
    # A login role granted service_role (no BYPASSRLS of its own) reaches the rows only
    # through the integration design's service_role_full_access_* policy.
    probe = f"agentq_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(one_row_each) as conn:
        try:
            conn.execute(f"CREATE ROLE {probe} NOLOGIN INHERIT")  # rolled back below
            conn.execute(f"GRANT service_role TO {probe}")
            _as(conn, probe, {"role": "service_role"})
            assert len(conn.execute("SELECT * FROM agent_executions").fetchall()) == 1
            assert conn.execute("UPDATE agent_executions SET user_rating = 4").rowcount == 1
            assert conn.execute("DELETE FROM agent_execution_events").rowcount == 1
            conn.execute('SET LOCAL request.jwt.claims = \'{"role": "authenticated"}\'')
            assert len(conn.execute("SELECT * FROM agent_executions").fetchall()) == 0
        finally:
            conn.rollback()


def test_writes_are_refused_by_the_policies_too(one_row_each: str) -> None:
    # Supabase's default privileges grant anon and authenticated every privilege on new
    # tables; with those grants the policies alone must still refuse the writes.
    with psycopg.connect(one_row_each) as conn:
        try:
            conn.execute("GRANT INSERT, UPDATE, DELETE ON agent_executions TO authenticated")
            _as(conn, "authenticated", {"role": "authenticated"})
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                conn.execute(
                    "INSERT INTO agent_executions (task_id, agent_type, task_type) "
                    "VALUES ('x', 'quiz_generator', 'quiz')"
                )
        finally:
            conn.rollback()
        try:
            conn.execute("GRANT INSERT, UPDATE, DELETE ON agent_executions TO authenticated")
            _as(conn, "authenticated", {"role": "authenticated"})
            assert conn.execute("UPDATE agent_executions SET user_rating = 1").rowcount == 0
            assert conn.execute("DELETE FROM agent_executions").rowcount == 0
        finally:
            conn.rollback()


def test_migration_0004_is_idempotent(database_url: str) -> None:
    url = _plain(database_url)

    def state(conn: psycopg.Connection[Any]) -> list[Any]:
        return conn.execute(
            "SELECT tablename, policyname, roles::text, cmd, qual, with_check FROM pg_policies "
            "UNION ALL SELECT relname, relrowsecurity::text, NULL, NULL, NULL, NULL "
            "FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "ORDER BY 1, 2"
        ).fetchall()

    with psycopg.connect(url, autocommit=True) as conn:
        before = state(conn)
        conn.execute(read_sql("0004_supabase_rls.sql"))
        assert state(conn) == before


@pytest.fixture
def fresh_url() -> Iterator[str]:
    name = f"agentq_rls_{uuid.uuid4().hex[:10]}"
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rls_flags(url: str) -> dict[str, bool]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
            (list(READABLE_BY_AUTHENTICATED),),
        ).fetchall()
    return dict(rows)


def test_disabled_by_setting_then_downgrade_and_upgrade(fresh_url: str) -> None:
    from alembic import command

    sa_url = fresh_url.replace("postgresql://", "postgresql+psycopg://")
    MigrationService(sa_url, enable_rls=False).run_migrations()
    assert not any(_rls_flags(fresh_url).values())

    service = MigrationService(sa_url, enable_rls=True)
    command.downgrade(service._config(), "0003_realtime")
    service.run_migrations()
    assert all(_rls_flags(fresh_url).values())
    command.downgrade(service._config(), "0003_realtime")
    assert not any(_rls_flags(fresh_url).values())
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_policies").fetchone() == (0,)
        # Our shim goes with it (Supabase's own auth schema never would).
        assert conn.execute("SELECT to_regnamespace('auth')").fetchone() == (None,)
