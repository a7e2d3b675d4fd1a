"""The realtime bridge's lag and breaker on /metrics: a real bridge (real PostgreSQL, a
real Pusher-protocol server, soketi) reports to Redis, the metrics collector of
``agentq serve`` reads it; exposition parsed with prometheus_client's parser."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from persistence.sql_store import SQLStore
from tests.support.realtime_rows import db, insert_executions
from tests.support.soketi import SoketiServer
from tests.support.workers import wait_for
from workers.realtime import RealtimeIntegrationService
from workers.serve.metrics import AgentqCollector
from workers.settings import load_settings


def _scrape(database_url: str) -> dict[str, float]:
    store = SQLStore(database_url, pool_size=1)
    try:
        registry = CollectorRegistry()
        registry.register(AgentqCollector(load_settings(), store))
        text = generate_latest(registry).decode()
    finally:
        store.close()
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("agentq_realtime_")
    }


def _bridge(soketi: SoketiServer, **overrides: Any) -> RealtimeIntegrationService:
    return RealtimeIntegrationService(settings=load_settings(**{**soketi.overrides, **overrides}))


def test_breaker_open_and_lag_reported_then_gone_when_the_bridge_stops(
    clean: str, soketi: SoketiServer
) -> None:
    assert _scrape(clean) == {}  # no bridge: no realtime series at all
    service = _bridge(
        soketi,
        pusher_secret="not-the-secret-at-all",  # soketi refuses every call
        realtime_breaker_failures=2,
        realtime_breaker_reset_seconds=600,
        realtime_batch_window_ms=200,
    )
    service.start()
    try:
        with db(clean) as conn:
            insert_executions(conn, 25)
        m = wait_for(
            lambda: (s := _scrape(clean)).get("agentq_realtime_breaker_open") == 1 and s,
            timeout=60,
            interval=0.5,
            what="the breaker reported open",
        )
        assert m["agentq_realtime_lag_seconds"] >= 0
    finally:
        service.stop()
    assert _scrape(clean) == {}  # a clean stop removes its report


def test_a_healthy_bridge_reports_a_closed_breaker_and_its_lag(
    clean: str, soketi: SoketiServer
) -> None:
    service = _bridge(soketi, realtime_batch_window_ms=200)
    service.start()
    try:
        with db(clean) as conn:
            insert_executions(conn, 5)
        wait_for(lambda: service.get_status()["forwarded"] >= 5, what="5 events forwarded")
        m = wait_for(
            lambda: (s := _scrape(clean)).get("agentq_realtime_lag_seconds", 0) > 0 and s,
            timeout=60,
            interval=0.5,
            what="the flush's lag reported",
        )
        assert m["agentq_realtime_breaker_open"] == 0
    finally:
        service.stop()
