""".env.example, the operator's settings file for docker-compose: it names every setting,
its active lines are valid settings that contact no Supabase, and dual mode is turned on
by editing it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from workers.settings import Settings, load_settings
from workers.stores import DatabasePlan, plan

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# Read by docker-compose.yml itself, not by the settings.
COMPOSE_ONLY = {"COMPOSE_PROFILES", "FLOWER_BASIC_AUTH", "FLOWER_PORT", "POSTGRES_PASSWORD"}
COMPOSE_ONLY |= {"SOKETI_PORT"}
COMPOSE_ONLY |= {"PROMETHEUS_PORT", "ALERTMANAGER_PORT", "GRAFANA_PORT", "GRAFANA_ADMIN_PASSWORD"}


def _named() -> set[str]:
    """Every NAME= in the file, commented out or not."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.MULTILINE))


def _aliases() -> set[str]:
    out = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        out.add(alias if isinstance(alias, str) else str(alias.choices[0]))  # type: ignore[union-attr]
    return out


def test_every_setting_is_listed_and_nothing_else() -> None:
    named, aliases = _named(), _aliases()
    assert aliases - named == set(), "settings missing from .env.example"
    assert named - aliases - COMPOSE_ONLY == set(), "unknown names in .env.example"


def _load(monkeypatch: pytest.MonkeyPatch, **changes: str) -> Settings:
    for name in _aliases() | COMPOSE_ONLY | {"ENABLE_SUPABASE_INTEGRATION"}:
        monkeypatch.delenv(name, raising=False)
    values = {k: v or "" for k, v in dotenv_values(EXAMPLE).items()}
    for k, v in {**values, **changes}.items():
        monkeypatch.setenv(k, v)
    return load_settings()


def test_as_shipped_it_is_valid_and_supabase_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(monkeypatch)
    assert plan(settings) == DatabasePlan("sql", None)
    assert not settings.supabase_enabled and settings.log_level == "INFO"


def test_dual_mode_by_editing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rest = {"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "key"}
    dual = {"ENABLE_SUPABASE_INTEGRATION": "true", "DATABASE_URL": "postgresql://h/db", **rest}
    assert plan(_load(monkeypatch, **dual)) == DatabasePlan("sql", "rest")
    direct = {**dual, "SUPABASE_DB_HOST": "db.x.supabase.co", "SUPABASE_DB_PASS": "pw"}
    assert plan(_load(monkeypatch, **direct)) == DatabasePlan("sql", "sql")
    # Filled in but still switched off: nothing of it is used.
    assert plan(_load(monkeypatch, **{**direct, "ENABLE_SUPABASE_INTEGRATION": "false"})) == (
        DatabasePlan("sql", None)
    )
