"""``agentq serve``: a small HTTP server for probes, dashboards and Prometheus.

* ``GET /healthz`` — :func:`workers.health.checks.health_check` (every component);
* ``GET /api/v1/health/supabase`` — :func:`workers.health.supabase.supabase_health`;
* ``GET /metrics`` — Prometheus exposition (:mod:`workers.serve.metrics`), always 200;
* ``GET /`` and ``GET /static/<file>`` — the live operations page (:mod:`workers.serve.page`);
* ``/api/v1/…`` and ``POST /pusher/auth`` — the operations page's JSON API and its
  authentication (:mod:`workers.serve.api`, :mod:`workers.serve.auth`; docs/api.md);
* anything else — ``{"error": ...}`` with 404 (unknown path) or 405 (not GET / HEAD).

Health endpoints answer 200 when healthy or degraded and 503 when unhealthy, so a load
balancer or a readiness probe takes the instance out only when it cannot work at all.

The standard library's threading server is enough: each request is a few queries, and
a probe or scrape must never wait behind another. One small connection pool serves
every request. Bodies are JSON (or Prometheus text); no endpoint echoes a secret: URLs
are redacted and error texts cleaned by the health checks.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from workers import stores
from workers.health.verdict import UNHEALTHY
from workers.serve import api, page
from workers.serve.metrics import AgentqCollector

logger = logging.getLogger(__name__)

HEALTHZ = "/healthz"
SUPABASE_HEALTH = "/api/v1/health/supabase"
METRICS = "/metrics"


class HealthServer(ThreadingHTTPServer):
    """The server: settings, one pool and the metrics registry shared by the handlers."""

    daemon_threads = True  # a hung client never blocks shutdown

    def __init__(self, settings: Any, host: str, port: int) -> None:
        self.settings = settings
        # Built now, connected on first use (no connection before the first request).
        self.store = stores.sql_store(settings, pool_size=2)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentqCollector(settings, self.store))
        super().__init__((host, port), _Handler)

    def server_close(self) -> None:
        super().server_close()
        self.store.close()

    def __repr__(self) -> str:
        host, port = self.server_address[:2]
        return f"HealthServer({host!s}:{port})"


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def version_string(self) -> str:
        return "agentq"  # no Python version to the world

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if path == HEALTHZ:
                self._health(self._healthz())
            elif path == SUPABASE_HEALTH:
                self._health(self._supabase())
            elif path == METRICS:
                self._metrics()
            elif page.handles(path):
                self._page(path)
            elif api.handles(path):
                self._api(path)
            else:
                self._json(404, {"error": f"no such endpoint: {path}"})
        except Exception:  # a bug: log it, answer 500, keep serving
            logger.exception("serve: %s failed", path)
            self._json(500, {"error": "internal error"})

    def _refuse(self) -> None:
        self._json(405, {"error": "only GET is supported"}, allow=True)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if not api.handles(path):
            self._refuse()
            return
        try:
            self._api(path)
        except Exception:
            logger.exception("serve: POST %s failed", path)
            self._json(500, {"error": "internal error"})

    do_HEAD = do_GET
    do_PUT = do_DELETE = do_PATCH = _refuse

    # --- endpoints --------------------------------------------------------------------
    def _healthz(self) -> dict[str, Any]:
        from workers.health.report import health_check

        return health_check(self.server.settings, store=self.server.store)

    def _supabase(self) -> dict[str, Any]:
        from workers.health.supabase import supabase_health

        return supabase_health(self.server.settings, self.server.store)

    def _page(self, path: str) -> None:
        found = page.find(path, self.server.settings.node_modules)
        if isinstance(found, str):
            self._json(404, {"error": found})
        else:
            self._send(200, found.body, found.content_type, found.headers)

    def _health(self, report: dict[str, Any]) -> None:
        self._json(503 if report.get("status") == UNHEALTHY else 200, report)

    def _api(self, path: str) -> None:
        length = self.headers.get("Content-Length") or "0"
        size = int(length) if length.isdigit() else -1
        if size < 0 or size > api.MAX_BODY:
            self._json(413, {"error": f"Content-Length must be 0..{api.MAX_BODY}, not {length!r}"})
            return
        body = self.rfile.read(size) if size > 0 else b""
        query = urlsplit(self.path).query
        self._json(*api.answer(self.server, self.command, path, query, self.headers, body))

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept") or "")
        self._send(200, encoder(self.server.registry), content_type)

    # --- plumbing ---------------------------------------------------------------------
    def _json(self, code: int, body: dict[str, Any], allow: bool = False) -> None:
        data = json.dumps(body, default=_json_default, sort_keys=True).encode()
        self._send(code, data, "application/json", {"Allow": "GET"} if allow else {})

    def _send(
        self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def serve(settings: Any, host: str | None = None, port: int | None = None) -> HealthServer:
    """A bound server (``port`` 0 picks a free one); call ``serve_forever()`` on it."""
    return HealthServer(
        settings,
        host if host is not None else settings.serve_host,
        settings.serve_port if port is None else port,
    )
