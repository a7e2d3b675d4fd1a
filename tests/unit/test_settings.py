from __future__ import annotations

import pytest

from workers.settings import SettingsError, load_settings, redact_url, to_sqlalchemy_url


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_DB_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="SUPABASE_DB_PORT"):
        load_settings()


def test_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings()


def test_pusher_app_id_must_be_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHER_APP_ID", "abc")
    with pytest.raises(SettingsError, match="PUSHER_APP_ID"):
        load_settings()


def test_secrets_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "service-role-secret-value")
    monkeypatch.setenv("SUPABASE_DB_PASS", "db-password-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db:5432/x")
    s = load_settings()
    text = repr(s) + str(s) + repr(s.get_supabase_config())
    for secret in ("service-role-secret-value", "db-password-value", "hunter2"):
        assert secret not in text


def test_seed_supabase_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://example.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "k")
    monkeypatch.setenv("SUPABASE_DB_HOST", "db.example.co")
    monkeypatch.setenv("SUPABASE_DB_PASS", "p@ss word")
    s = load_settings()
    assert s.is_supabase_configured()
    assert (
        s.get_supabase_database_url()
        == "postgresql://postgres:p%40ss%20word@db.example.co:54322/postgres?sslmode=require"
    )
    monkeypatch.setenv("SUPABASE_DB_SSLMODE", "disable")  # a local Supabase without TLS
    assert load_settings().get_supabase_database_url().endswith("/postgres?sslmode=disable")
    monkeypatch.setenv("SUPABASE_DB_SSLMODE", "sometimes")
    with pytest.raises(SettingsError, match="SUPABASE_DB_SSLMODE"):
        load_settings()
    cfg = s.get_supabase_config()
    assert cfg["agent_schema"] == "public" and cfg["max_retries"] == 3 and cfg["enable_rls"]


def test_supabase_not_configured_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    assert not load_settings().is_supabase_configured()


def test_url_helpers() -> None:
    assert redact_url("postgresql://u:secret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert to_sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"


def test_events_confirm_auto_waits_in_workers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.recording import signals

    monkeypatch.setattr(signals.state, "in_worker", False)
    assert signals._confirm_mode(load_settings()) == "deferred"  # a publisher: no wait
    signals._on_worker_init()  # what Celery's worker_init signal calls
    # a worker: the task's last event waits (for its reply and running's), running does not
    assert signals._confirm_mode(load_settings()) == "final"
    for mode in ("deferred", "each"):
        monkeypatch.setenv("AGENTQ_EVENTS_CONFIRM", mode)
        assert signals._confirm_mode(load_settings()) == mode
    monkeypatch.setenv("AGENTQ_EVENTS_CONFIRM", "sometimes")
    with pytest.raises(SettingsError, match="AGENTQ_EVENTS_CONFIRM"):
        load_settings()
