"""``agentq serve`` as a real subprocess, over HTTP: the health endpoints' shape and
status codes, the Prometheus metrics against known data, a stopped PostgreSQL (503 with
the reason, then recovery), and no secret in any answer or log line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from persistence.migration_service import MigrationService
from persistence.schema import metadata
from persistence.sql_store import SQLStore
from tests.support.database import EVERY_TABLE, libpq_url, truncate
from tests.support.servers import PostgresServer, free_port
from workers.routing import AGENT_TYPES
from workers.settings import to_sqlalchemy_url

ROOT = Path(__file__).resolve().parents[2]
SEED_KEYS = {"status", "response_time_ms", "tables_accessible", "realtime_enabled"}


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[str]

    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], str]:
        req = urllib.request.Request(self.base + path, headers={"Accept": accept or "*/*"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    def json(self, path: str) -> tuple[int, dict[str, Any]]:
        code, _, body = self.get(path)
        return code, json.loads(body)

    def stop(self) -> str:
        """SIGTERM; asserts a clean exit and returns the server's log."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, out
        return out


def _start(env: dict[str, str]) -> Served:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agentq serve exited: {proc.communicate()[0]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Served(f"http://127.0.0.1:{port}", proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("agentq serve did not start listening")


@pytest.fixture
def served_factory() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**env: str) -> Served:
        served = _start(env)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


@pytest.fixture
def empty(clean: str) -> str:
    truncate(clean, EVERY_TABLE)
    return libpq_url(clean)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_endpoints_answer_the_seed_shape(
    empty: str, served_factory: Callable[..., Served]
) -> None:
    served = served_factory()
    code, body = served.json("/api/v1/health/supabase")
    assert code == 200, body
    assert set(body) >= SEED_KEYS
    assert body["status"] == "healthy", body["reasons"]
    assert body["reasons"] == []
    assert body["tables_accessible"] == {
        "agent_instances": True,
        "agent_executions": True,
        "agent_metrics": True,
    }
    assert body["rls_enabled"] == {t: True for t in metadata.tables}
    assert body["mirror_backlog"] == 0
    assert body["database"]["ok"] and body["api"] == {
        "configured": False,
        "ok": True,
        "status": "not configured",
    }
    assert isinstance(body["realtime_enabled"], bool)

    code, report = served.json("/healthz")
    assert set(report) >= SEED_KEYS and "components" in report
    assert code == 503 and report["status"] == "unhealthy"  # no worker online
    # What a worker consuming every queue records at start: then the probe passes.
    store = SQLStore(to_sqlalchemy_url(empty), pool_size=1)
    try:
        store.set_instances_status("w1@h", list(AGENT_TYPES), "idle", datetime.now(UTC))
    finally:
        store.close()
    code, report = served.json("/healthz")
    assert report["status"] != "unhealthy", report["reasons"]
    assert code == 200


def test_unknown_paths_and_methods(empty: str, served_factory: Callable[..., Served]) -> None:
    served = served_factory()
    code, body = served.json("/nope")
    assert code == 404 and body == {"error": "no such endpoint: /nope"}
    req = urllib.request.Request(served.base + "/healthz", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 405 and err.value.headers["Allow"] == "GET, HEAD"


def test_metrics_report_executions_queues_recording_and_mirror(
    empty: str, served_factory: Callable[..., Served], redis_client: Any
) -> None:
    with psycopg.connect(empty, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_executions (task_id, agent_type, task_type, status) VALUES "
            "('m1', 'quiz_generator', 'quiz', 'completed'), "
            "('m2', 'quiz_generator', 'quiz', 'completed'), "
            "('m3', 'content_generator', 'lesson', 'failed')"
        )
        conn.execute("INSERT INTO mirror_outbox (op, payload) VALUES ('call', '{}'::jsonb)")
    # Two messages waiting in quiz_generator (one on a priority list), one old stream entry.
    redis_client.lpush("quiz_generator", b"{}")
    redis_client.lpush("quiz_generator:4", b"{}")
    redis_client.xadd("agentq:events", {"e": b"{}"}, id="1000-0")

    served = served_factory()
    code, headers, text = served.get("/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = _samples(text)

    def one(name: str, **labels: str) -> float:
        return m[(name, tuple(sorted(labels.items())))]

    assert one("agentq_executions", status="completed", agent_type="quiz_generator") == 2
    assert one("agentq_executions", status="failed", agent_type="content_generator") == 1
    assert one("agentq_executions", status="running", agent_type="roblox_testing") == 0
    assert sum(v for (n, _), v in m.items() if n == "agentq_executions") == 3
    assert one("agentq_queue_depth", queue="quiz_generator") == 2
    assert one("agentq_queue_depth", queue="content_generator") == 0
    assert one("agentq_recording_backlog") == 1
    assert one("agentq_recording_lag_seconds") > 1_000_000  # the entry is from 1970
    assert one("agentq_recording_dead_letters") == 0
    assert one("agentq_mirror_backlog") == 1
    assert one("agentq_agent_instances_online") == 0
    for source in ("database", "broker", "events"):
        assert one("agentq_up", source=source) == 1

    code, headers, text = served.get("/metrics", accept="application/openmetrics-text")
    assert code == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")


def test_no_secret_in_any_answer_or_log(empty: str, served_factory: Callable[..., Served]) -> None:
    secrets = {
        "DATABASE_URL": empty.replace("postgres@", "postgres:db-pw-Zq81@"),  # trust: ignored
        "SUPABASE_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "SUPABASE_SERVICE_ROLE_KEY": "svc-key-Xk29",
        "SUPABASE_ANON_KEY": "anon-key-Pw55",
        "SUPABASE_JWT_SECRET": "jwt-secret-Lm07-at-least-32-bytes-long",
        "SUPABASE_DB_PASS": "sb-db-pass-Tt44",
    }
    served = served_factory(**secrets)
    code, body = served.json("/api/v1/health/supabase")
    assert code == 200 and body["status"] == "degraded"
    assert body["reasons"][0].startswith("supabase api unreachable: ")
    answers = [json.dumps(body)]
    for path in ("/healthz", "/metrics", "/nope"):
        answers.append(served.get(path)[2])
    log = served.stop()
    assert "/api/v1/health/supabase" in log  # the log is there, and clean
    for text in [*answers, log]:
        for secret in ("db-pw-Zq81", "svc-key-Xk29", "anon-key-Pw55", "jwt-secret-Lm07"):
            assert secret not in text
        assert "sb-db-pass-Tt44" not in text


@pytest.mark.slow
def test_database_stopped_is_503_with_the_reason_then_recovers(
    empty: str, served_factory: Callable[..., Served]
) -> None:
    pg = PostgresServer()
    try:
        pg.start()
        url = pg.url.rsplit("/", 1)[0] + "/agentq"
        MigrationService(url.replace("postgresql://", "postgresql+psycopg://")).run_migrations()
        served = served_factory(DATABASE_URL=url)
        assert served.json("/api/v1/health/supabase")[0] == 200

        pg.stop()
        code, body = served.json("/api/v1/health/supabase")
        assert code == 503 and body["status"] == "unhealthy"
        assert body["reasons"][0].startswith("database unreachable: ")
        assert body["tables_accessible"]["agent_executions"] is False
        code, report = served.json("/healthz")
        assert code == 503 and report["reasons"][0].startswith("database unreachable: ")
        code, _, text = served.get("/metrics")
        m = _samples(text)
        assert code == 200 and m[("agentq_up", (("source", "database"),))] == 0
        assert not any(name == "agentq_executions" for name, _ in m)

        pg.start()
        code, body = served.json("/api/v1/health/supabase")
        assert code == 200 and body["status"] == "healthy", body
    finally:
        pg.destroy()
