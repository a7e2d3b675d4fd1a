"""ENABLE_SUPABASE_INTEGRATION: unset infers Supabase from SUPABASE_*, false turns it off
whatever SUPABASE_* say, true requires one (workers/settings.py, workers/stores.py)."""

from __future__ import annotations

import pytest

from workers.settings import DEFAULT_DATABASE_URL, Settings, SettingsError, load_settings
from workers.stores import DatabasePlan, describe, plan, rest_store, supabase_sql_store

DB = {"SUPABASE_DB_HOST": "db.example.supabase.co", "SUPABASE_DB_PASS": "pw"}
REST = {"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "key"}
PRIMARY = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/primary"}


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({**PRIMARY, **DB}, DatabasePlan("sql", "sql")),
        ({**PRIMARY, **REST}, DatabasePlan("sql", "rest")),
        (DB, DatabasePlan("sql", None)),
        (REST, DatabasePlan("rest", None)),
    ],
)
@pytest.mark.parametrize("switch", [None, "true", "TRUE", "1"])
def test_unset_or_true_uses_what_supabase_names(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: DatabasePlan,
    switch: str | None,
) -> None:
    extra = {} if switch is None else {"ENABLE_SUPABASE_INTEGRATION": switch}
    settings = _settings(monkeypatch, {**env, **extra})
    assert plan(settings) == expected
    assert settings.supabase_enabled
    assert describe(settings)["supabase"] == "enabled"


@pytest.mark.parametrize("env", [{}, PRIMARY, DB, REST, {**PRIMARY, **DB, **REST}, {**DB, **REST}])
@pytest.mark.parametrize("switch", ["false", "False", "0", "no"])
def test_false_means_database_url_only(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], switch: str
) -> None:
    s = _settings(monkeypatch, {**env, "ENABLE_SUPABASE_INTEGRATION": switch})
    assert plan(s) == DatabasePlan("sql", None)
    assert not s.supabase_enabled
    assert not s.is_supabase_configured()
    assert not s.get_supabase_config()["enabled"]
    # Supabase's database alone would be the primary; disabled, DATABASE_URL is.
    expected = env.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    assert s.primary_database_url == expected
    assert describe(s)["supabase"].startswith("disabled")
    with pytest.raises(SettingsError, match="ENABLE_SUPABASE_INTEGRATION=false"):
        rest_store(s)
    with pytest.raises(SettingsError, match="ENABLE_SUPABASE_INTEGRATION=false"):
        supabase_sql_store(s)


def test_unset_with_nothing_named_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, PRIMARY)
    assert not settings.supabase_enabled
    assert describe(settings)["supabase"] == "not configured"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SUPABASE_DB_HOST (the database), or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"),
        (PRIMARY, "SUPABASE_DB_HOST"),
        (
            {"SUPABASE_URL": "https://x.supabase.co"},
            "SUPABASE_SERVICE_ROLE_KEY or SUPABASE_ANON_KEY",
        ),
        ({"SUPABASE_SERVICE_ROLE_KEY": "key"}, "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"),
    ],
)
def test_true_without_supabase_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as err:
        _settings(monkeypatch, {**env, "ENABLE_SUPABASE_INTEGRATION": "true"})
    message = str(err.value)
    assert "ENABLE_SUPABASE_INTEGRATION=true but no Supabase is configured" in message
    assert named in message


def test_a_bad_switch_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="ENABLE_SUPABASE_INTEGRATION"):
        _settings(monkeypatch, {"ENABLE_SUPABASE_INTEGRATION": "maybe"})


@pytest.mark.parametrize("value", ["debug", "INFO", "Warning", "error", "CRITICAL"])
def test_log_level_any_case(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from workers.logs import configured_level

    settings = _settings(monkeypatch, {"LOG_LEVEL": value})
    assert configured_level(settings) == value.upper()


def test_bad_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        _settings(monkeypatch, {"LOG_LEVEL": "verbose"})
