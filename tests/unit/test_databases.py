"""Which databases the settings name (workers/stores.py), and no secret in sight."""

from __future__ import annotations

import pytest

from workers.settings import load_settings
from workers.stores import DatabasePlan, describe, plan, session_url

PASSWORD = "db-pass-never-shown"
KEY = "service-role-key-never-shown"
DB = {"SUPABASE_DB_HOST": "db.example.supabase.co", "SUPABASE_DB_PASS": PASSWORD}
REST = {"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": KEY}
PRIMARY = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/primary"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DatabasePlan("sql", None)),
        (PRIMARY, DatabasePlan("sql", None)),
        (DB, DatabasePlan("sql", None)),
        (REST, DatabasePlan("rest", None)),
        ({**PRIMARY, **DB}, DatabasePlan("sql", "sql")),
        ({**PRIMARY, **REST}, DatabasePlan("sql", "rest")),
        ({**PRIMARY, **DB, **REST}, DatabasePlan("sql", "sql")),  # direct wins over REST
    ],
)
def test_plan(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: DatabasePlan) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    assert plan(settings) == expected
    shown = repr(settings) + str(describe(settings)) + repr(settings.get_supabase_config())
    assert PASSWORD not in shown and KEY not in shown


def test_supabase_database_alone_is_the_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for k, v in DB.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://postgres:")
    assert "@db.example.supabase.co:54322/postgres" in settings.sqlalchemy_url
    assert describe(settings)["primary_url"] == (
        "postgresql://postgres:***@db.example.supabase.co:54322/postgres?sslmode=require"
    )


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


def test_migration_service_of_the_primary_knows_its_sql_mirror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workers.stores import get_migration_service

    settings = _settings(monkeypatch, {**PRIMARY, **DB})
    service = get_migration_service(settings)
    assert service.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/primary"
    assert service.mirror_url is not None
    assert "@db.example.supabase.co:54322/postgres" in service.mirror_url
    mirror = get_migration_service(settings, mirror=True)
    assert mirror.database_url == service.mirror_url and mirror.mirror_url is None
    monkeypatch.delenv("SUPABASE_DB_HOST")
    assert get_migration_service(_settings(monkeypatch, PRIMARY)).mirror_url is None


@pytest.mark.parametrize(
    ("env", "mirror", "message"),
    [
        (REST, False, "primary is configured for REST only"),
        ({**PRIMARY, **REST}, True, "mirror is configured for REST only"),
        (PRIMARY, True, "no Supabase mirror is configured"),
    ],
)
def test_migration_service_without_sql_access_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], mirror: bool, message: str
) -> None:
    from workers.settings import SettingsError
    from workers.stores import get_migration_service

    with pytest.raises(SettingsError, match=message):
        get_migration_service(_settings(monkeypatch, env), mirror=mirror)


@pytest.mark.parametrize(
    ("env", "accepted"),
    [
        ({}, False),
        (PRIMARY, False),
        (DB, False),
        ({**PRIMARY, **DB}, False),
        ({**PRIMARY, **DB, **REST}, False),  # the SQL mirror wins over REST
        (REST, True),
        ({**PRIMARY, **REST}, True),  # the REST mirror uses it; the primary is not Supabase
    ],
)
def test_agent_schema_is_accepted_only_where_rest_uses_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], accepted: bool
) -> None:
    from workers.settings import SettingsError

    env = {**env, "SUPABASE_AGENT_SCHEMA": "agents"}
    if accepted:
        assert _settings(monkeypatch, env).supabase_agent_schema == "agents"
        return
    with pytest.raises(SettingsError, match="honoured only by the Supabase REST store"):
        _settings(monkeypatch, env)
    env["SUPABASE_AGENT_SCHEMA"] = "public"
    assert _settings(monkeypatch, env).supabase_agent_schema == "public"


def test_session_url_switches_the_change_feed_off_and_keeps_given_options() -> None:
    url = (
        "postgresql+psycopg://u:p%40ss@h:5432/db?options=-c%20search_path%3Dagents&sslmode=require"
    )
    on = load_settings(supabase_enable_realtime=True)
    off = load_settings(supabase_enable_realtime=False)
    assert session_url(on, url) == url
    both = session_url(off, url, statement_timeout="5000")
    assert "p%40ss@h:5432/db" in both and "sslmode=require" in both
    assert (
        "options=-c+search_path%3Dagents+-c+statement_timeout%3D5000+-c+agentq.realtime%3Doff"
        in both
    )
