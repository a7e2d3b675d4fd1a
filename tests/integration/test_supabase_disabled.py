"""ENABLE_SUPABASE_INTEGRATION=false with every SUPABASE_* variable pointing at a TCP
listener that records connections: building stores, recording, the service, both health
reports, ``/api/v1/health/supabase`` and ``agentq health`` contact nothing, and say
Supabase is disabled. The same settings without the switch do connect (the listener
works)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.batches import task_transitions
from tests.support.workers import wait_for

ROOT = Path(__file__).resolve().parents[2]


class Listener:
    """A TCP server that accepts, remembers and closes every connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def supabase_env(port: int) -> dict[str, str]:
    """Every SUPABASE_* variable, all at the listener."""
    return {
        "SUPABASE_URL": f"http://127.0.0.1:{port}",
        "SUPABASE_ANON_KEY": "anon-key",
        "SUPABASE_SERVICE_ROLE_KEY": "service-role-key",
        "SUPABASE_JWT_SECRET": "jwt-secret-of-at-least-32-bytes-long",
        "SUPABASE_DB_HOST": "127.0.0.1",
        "SUPABASE_DB_PORT": str(port),
        "SUPABASE_DB_NAME": "postgres",
        "SUPABASE_DB_USER": "postgres",
        "SUPABASE_DB_PASS": "db-pass",
        "SUPABASE_DB_SSLMODE": "disable",
        "SUPABASE_AGENT_SCHEMA": "public",
        "SUPABASE_ENABLE_REALTIME": "true",
        "SUPABASE_ENABLE_RLS": "true",
        "SUPABASE_CONNECTION_TIMEOUT": "2",
        "SUPABASE_MAX_RETRIES": "0",
        "SUPABASE_RETRY_DELAY": "0",
    }


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    from workers.settings import load_settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_settings()


def _exercise(settings: Any) -> dict[str, Any]:
    """Everything that could reach Supabase, in this process; what each said."""
    from workers import stores
    from workers.health.report import health_check
    from workers.health.supabase import supabase_health
    from workers.serve.server import serve
    from workers.supabase_service import build_service

    store = stores.build_store(settings)
    try:
        store.record(task_transitions(str(uuid.uuid4())))
    finally:
        store.close()
    svc = build_service(settings)
    agent = f"quiz_generator@{uuid.uuid4().hex[:8]}"
    svc.create_agent_instance({"agent_id": agent, "agent_type": "quiz_generator"})
    seed = svc.health_check()
    report = health_check(settings)
    primary = stores.sql_store(settings)
    try:
        supabase = supabase_health(settings, primary)
    finally:
        primary.close()
    server = serve(settings, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/health/supabase"
        with urllib.request.urlopen(url, timeout=30) as resp:
            served = json.loads(resp.read())
    finally:
        server.shutdown()
        server.server_close()
    return {"seed": seed, "report": report, "supabase": supabase, "served": served}


def test_disabled_contacts_nothing(
    clean: str, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**supabase_env(listener.port), "ENABLE_SUPABASE_INTEGRATION": "false"}
    said = _exercise(_settings(monkeypatch, env))

    assert listener.connections == 0
    seed, report = said["seed"], said["report"]
    assert seed["healthy"] and seed["supabase"].startswith("disabled")
    assert seed["mode"] == "sql only" and seed["mirror"] is None
    components = report["components"]
    assert components["supabase"]["status"].startswith("disabled")
    assert "mirror" not in components
    for health in (said["supabase"], said["served"]):
        assert health["supabase_enabled"] is False
        assert health["api"]["status"].startswith("disabled")
        assert health["status"] == "healthy", health

    # `agentq health`, a real process with the same environment.
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "health", "--json"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed = json.loads(out.stdout)
    assert printed["components"]["supabase"]["status"].startswith("disabled"), out.stderr
    assert listener.connections == 0


def test_the_same_settings_enabled_do_connect(
    clean: str, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.health.checks import check_supabase

    settings = _settings(monkeypatch, supabase_env(listener.port))
    assert not check_supabase(settings)["ok"]  # the REST API: refused by the listener
    wait_for(lambda: listener.connections >= 1, 30, what="the REST check to connect")
    said = _exercise(settings)  # dual: the mirror tries Supabase's database
    assert said["seed"]["mirror"]["backlog"] >= 1
    assert listener.connections >= 3
