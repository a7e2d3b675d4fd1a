"""The primary and its Supabase mirror: sync_schemas compares their revisions and their
catalogs and brings a mirror that is behind up; `agentq migrate --check / --sync / --mirror`;
SUPABASE_AGENT_SCHEMA refused where the SQL path would ignore it. Two real databases on
the test server stand for the primary and the mirror."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence.migration_service import MigrationService
from tests.conftest import PG_ADMIN

ROOT = Path(__file__).resolve().parents[2]
SERVER = PG_ADMIN.rsplit("/", 1)[0]


@pytest.fixture
def two_dbs() -> Iterator[tuple[str, str]]:
    """Names of a primary and a mirror database, neither created yet (dropped after)."""
    names = [f"agentq_sync_{role}_{uuid.uuid4().hex[:8]}" for role in ("primary", "mirror")]
    yield names[0], names[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(name: str) -> str:
    return f"{SERVER}/{name}"


def test_a_mirror_behind_is_reported_and_brought_up(two_dbs: tuple[str, str]) -> None:
    primary, mirror = (_url(n) for n in two_dbs)
    MigrationService(mirror).run_migrations("0005_mirror_outbox")
    service = MigrationService(primary, mirror_url=mirror)
    head = service.run_migrations()["to"]

    drift = service.sync_schemas()
    assert not drift["in_sync"]
    assert drift["primary"]["revision"] == head
    assert drift["mirror"]["revision"] == "0005_mirror_outbox"
    assert drift["missing_revisions"][0] == "0006_record_batch"
    assert drift["missing_revisions"][-1] == head and drift["applied"] == []
    lines = drift["differences"]
    assert f"revision: primary at {head}, mirror at 0005_mirror_outbox" in lines
    # from the catalogs: what 0006.. made exists in the primary only
    assert "function agentq_record_batch(batch json): only in the primary" in lines
    assert "type agentq_wire_event: only in the primary" in lines
    assert "index idx_agent_executions_agent_instance_id: only in the primary" in lines

    synced = service.sync_schemas(apply=True)
    assert synced["applied"] == drift["missing_revisions"]
    assert synced["in_sync"] and synced["differences"] == [] and synced["missing_revisions"] == []
    assert MigrationService(mirror).get_migration_status()["current"] == head


def test_catalog_drift_at_the_same_revision_is_reported_not_hidden(
    two_dbs: tuple[str, str],
) -> None:
    primary, mirror = (_url(n) for n in two_dbs)
    MigrationService(mirror).run_migrations()
    service = MigrationService(primary, mirror_url=mirror)
    service.run_migrations()
    assert service.sync_schemas()["in_sync"]
    with psycopg.connect(mirror, autocommit=True) as conn:
        conn.execute("DROP TRIGGER agentq_realtime_executions_insert ON agent_executions")
        conn.execute(
            "CREATE OR REPLACE FUNCTION agentq_status_rank(s task_status) RETURNS integer "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT 0 $$"
        )
        conn.execute("ALTER TABLE agent_metrics DISABLE ROW LEVEL SECURITY")
    drift = service.sync_schemas(apply=True)  # same revision: nothing to apply
    assert not drift["in_sync"] and drift["applied"] == []
    text = "\n".join(drift["differences"])
    assert "trigger agent_executions.agentq_realtime_executions_insert: only in the primary" in text
    assert "function agentq_status_rank(s task_status): differs" in text
    assert "row level security agent_metrics: only in the primary" in text
    assert "revision:" not in text


def test_a_mirror_ahead_is_reported_never_downgraded(two_dbs: tuple[str, str]) -> None:
    primary, mirror = (_url(n) for n in two_dbs)
    head = MigrationService(mirror).run_migrations()["to"]
    service = MigrationService(primary, mirror_url=mirror)
    service.run_migrations("0007_record_batch_speed")
    drift = service.sync_schemas(apply=True)
    assert not drift["in_sync"] and drift["missing_revisions"] == [] and drift["applied"] == []
    assert f"revision: primary at 0007_record_batch_speed, mirror at {head}" in drift["differences"]
    assert MigrationService(mirror).get_migration_status()["current"] == head


def test_rls_downgrade_removes_what_an_rls_upgrade_made_whatever_the_setting(
    two_dbs: tuple[str, str],
) -> None:
    url = _url(two_dbs[0])
    MigrationService(url, enable_rls=True).run_migrations("0004_supabase_rls")
    MigrationService(url, enable_rls=False).downgrade("0003_realtime")
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "SELECT polname FROM pg_policy UNION ALL SELECT relname FROM pg_class "
            "WHERE relrowsecurity UNION ALL SELECT proname FROM pg_proc "
            "WHERE proname = 'agentq_enable_rls' UNION ALL "
            "SELECT nspname FROM pg_namespace WHERE nspname = 'auth'"
        ).fetchall()
    assert left == []


# --- the command line ------------------------------------------------------------------


def _migrate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _sql_mirror_env(primary: str, mirror: str) -> dict[str, str]:
    return {
        "DATABASE_URL": _url(primary),
        "SUPABASE_DB_HOST": "127.0.0.1",
        "SUPABASE_DB_PORT": "5432",
        "SUPABASE_DB_NAME": mirror,
        "SUPABASE_DB_USER": "postgres",
        "SUPABASE_DB_PASS": "mirror-pass-never-shown",
        "SUPABASE_DB_SSLMODE": "disable",
    }


def test_cli_check_sync_and_mirror(two_dbs: tuple[str, str]) -> None:
    env = _sql_mirror_env(*two_dbs)
    assert _migrate(env=env).returncode == 0  # the primary
    status = _migrate("--mirror", "--status", env=env)
    assert status.returncode == 4 and "does not exist" in status.stderr  # no mirror db yet

    check = _migrate("--check", env=env)
    assert check.returncode == 4 and "mirror postgresql" in check.stderr
    assert "mirror-pass-never-shown" not in check.stderr + check.stdout

    sync = _migrate("--sync", env=env)
    assert sync.returncode == 0, sync.stderr
    done = json.loads(sync.stdout)
    assert done["in_sync"] and done["applied"][0] == "0001_initial"
    assert "mirror-pass-never-shown" not in sync.stdout

    down = _migrate("--mirror", "--revision", "0006_record_batch", "--yes", env=env)
    assert down.returncode == 0, down.stderr
    check = _migrate("--check", env=env)
    assert check.returncode == 1
    assert json.loads(check.stdout)["missing_revisions"][0] == "0007_record_batch_speed"
    mirror_status = json.loads(_migrate("--mirror", "--status", env=env).stdout)
    assert mirror_status["current"] == "0006_record_batch"


def test_cli_without_sql_access_to_the_mirror_says_so(two_dbs: tuple[str, str]) -> None:
    rest = {
        "DATABASE_URL": _url(two_dbs[0]),
        "SUPABASE_URL": "http://127.0.0.1:1",
        "SUPABASE_SERVICE_ROLE_KEY": "key",
    }
    assert _migrate(env=rest).returncode == 0
    sync = _migrate("--sync", env=rest)
    assert sync.returncode == 1 and "need SQL access" in sync.stderr
    assert "SUPABASE_DB_HOST" in sync.stderr
    check = _migrate("--check", env=rest)
    assert check.returncode == 0, check.stderr  # the primary agrees with the models
    assert json.loads(check.stdout)["mirror"]["compared"] is False
    mirror = _migrate("--mirror", "--status", env=rest)
    assert mirror.returncode == 1 and "need SQL access" in mirror.stderr
    alone = _migrate("--sync", env={"DATABASE_URL": _url(two_dbs[0])})
    assert alone.returncode == 1 and "no mirror is configured" in alone.stderr
    rest_only = {k: v for k, v in rest.items() if k != "DATABASE_URL"}
    refused = _migrate(env={**rest_only, "DATABASE_URL": ""})
    assert refused.returncode == 1 and "primary is configured for REST only" in refused.stderr


def test_agent_schema_other_than_public_is_refused_on_the_sql_path(
    two_dbs: tuple[str, str],
) -> None:
    """The check lives in the settings validation: the CLI and a worker both refuse."""
    env = {**_sql_mirror_env(*two_dbs), "SUPABASE_AGENT_SCHEMA": "agents"}
    res = _migrate(env=env)
    assert res.returncode == 1
    assert "SUPABASE_AGENT_SCHEMA='agents' is honoured only by the Supabase REST store" in (
        res.stderr
    )
    with psycopg.connect(PG_ADMIN) as conn:  # nothing was created
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (two_dbs[0],))
        assert row.fetchone() is None
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-P", "solo"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode != 0
    assert "SUPABASE_AGENT_SCHEMA='agents'" in worker.stderr + worker.stdout
