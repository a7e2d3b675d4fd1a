"""agentq_up{source="supabase"} and agentq_schema_drift on /metrics: the collector of
``agentq serve`` against the project's PostgREST stand-in (up, then answering 503) and two
real databases standing for the primary and its SQL mirror."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from persistence.migration_service import MigrationService
from persistence.sql_store import SQLStore
from tests.conftest import PG_ADMIN
from tests.support.database import libpq_url
from tests.support.postgrest import FakePostgrest
from workers.serve.drift_metric import SchemaDrift
from workers.serve.metrics import AgentqCollector
from workers.settings import load_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(collector: Any) -> Samples:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_supabase_up_follows_its_rest_api(clean: str) -> None:
    fake = FakePostgrest(libpq_url(clean)).start()
    store = SQLStore(clean, pool_size=1)
    try:
        settings = load_settings(supabase_url=fake.url, supabase_service_role_key="svc-key")
        collector = AgentqCollector(settings, store)
        assert _scrape(collector)[("agentq_up", (("source", "supabase"),))] == 1
        fake.down = True  # 503 to everything
        assert _scrape(collector)[("agentq_up", (("source", "supabase"),))] == 0
        # Without Supabase configured the source is not there at all.
        plain = _scrape(AgentqCollector(load_settings(supabase_url=None), store))
        assert not [k for k in plain if k[0] == "agentq_up" and k[1] == (("source", "supabase"),)]
    finally:
        store.close()
        fake.stop()


def test_schema_drift_between_primary_and_sql_mirror() -> None:
    server = PG_ADMIN.rsplit("/", 1)[0]
    names = [f"agentq_drift_{role}_{uuid.uuid4().hex[:8]}" for role in ("primary", "mirror")]
    primary, mirror = (f"{server}/{n}" for n in names)
    try:
        MigrationService(primary).run_migrations()
        MigrationService(mirror).run_migrations()
        settings = load_settings(
            database_url=primary,
            supabase_db_host="127.0.0.1",
            supabase_db_port=5432,
            supabase_db_name=names[1],
            supabase_db_user="postgres",
            supabase_db_pass="pw",
            supabase_db_sslmode="disable",
            supabase_url=None,
        )
        drift = SchemaDrift(settings, every_s=0)  # compare at every scrape
        assert _scrape(drift)[("agentq_schema_drift", ())] == 0
        with psycopg.connect(mirror, autocommit=True) as conn:
            conn.execute("DROP TRIGGER agentq_realtime_executions_insert ON agent_executions")
        assert _scrape(drift)[("agentq_schema_drift", ())] == 1
        # No mirror: no series.
        assert _scrape(SchemaDrift(load_settings(supabase_url=None), every_s=0)) == {}
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
