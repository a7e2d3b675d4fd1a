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
