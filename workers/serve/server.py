"""``agentq serve``: a small HTTP server for probes, dashboards and Prometheus.

* ``GET /healthz`` — :func:`workers.health.checks.health_check` (every component);
* ``GET /api/v1/health/supabase`` — :func:`workers.health.supabase.supabase_health`;
* ``GET /metrics`` — Prometheus exposition (:mod:`workers.serve.metrics`), always 200;
* ``GET /`` and ``GET /static/<file>`` — the live operations page (:mod:`workers.serve.page`);
* ``/api/v1/…`` and ``POST /pusher/auth`` — the operations page's JSON API and its
  authentication (:mod:`workers.serve.api`, :mod:`workers.serve.auth`; docs/api.md);
* anything else — ``{"error": ...}`` with 404 (unknown path) or 405 (another method).

Every answer is JSON, also the refusals of http.server itself (414 request line too
long, 431 headers too long, 400 malformed request line: :meth:`_Handler.send_error`).
Client input never makes a 5xx: a body is read only with a well-formed ``Content-Length``
of at most ``api.MAX_BODY`` (else 400 / 413) and within the read timeout (else 408).
The routes are the table of ``workers/serve/routes.py``; connections are bounded and
timed out as ``workers/serve/connections.py`` says.

Health endpoints answer 200 when healthy or degraded and 503 when unhealthy, so a load
balancer or a readiness probe takes the instance out only when it cannot work at all.

The standard library's threading server is enough: each request is a few queries, and
a probe or scrape must never wait behind another (up to ``AGENTQ_SERVE_MAX_CONNECTIONS``
at once). One small connection pool serves
every request. Bodies are JSON (or Prometheus text); no endpoint echoes a secret: URLs
are redacted and error texts cleaned by the health checks.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from workers import stores
from workers.health.verdict import UNHEALTHY
from workers.serve import api, page
from workers.serve.connections import BoundedServer, DeadlineReader
from workers.serve.metrics import AgentqCollector
from workers.serve.routes import HEALTHZ, METRICS, PUSHER_AUTH, SUPABASE_HEALTH
from workers.settings import Settings

logger = logging.getLogger(__name__)

# ASCII digits only, and few of them: int() of 5000 digits raises, '²'.isdigit() is true.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,9}")


class HealthServer(BoundedServer):
    """The server: settings, one pool and the metrics registry shared by the handlers."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        # Built now, connected on first use (no connection before the first request).
        self.store = stores.sql_store(settings, pool_size=2)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(AgentqCollector(settings, self.store))
        super().__init__((host, port), _Handler, _BusyHandler, settings.serve_max_connections)

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

    def setup(self) -> None:
        super().setup()
        # Every read and write of this connection times out, and the request has a
        # deadline: a stalled or trickling client's thread ends (connections.py).
        settings = self.server.settings
        self.connection.settimeout(settings.serve_read_timeout_seconds)
        self.rfile.close()  # the plain reader of StreamRequestHandler, replaced
        self.rfile = io.BufferedReader(
            DeadlineReader(
                self.connection,
                settings.serve_read_timeout_seconds,
                settings.serve_request_timeout_seconds,
            )
        )

    def version_string(self) -> str:
        return "agentq"  # no Python version to the world

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with 501 and an HTML page:
        # every method this server does not serve is a 405 JSON instead, like PUT.
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_HEAD = do_GET

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if self.command == "POST" and not api.handles(path):
                self._refuse()
            elif path == HEALTHZ:
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
                self._json(404, {"error": f"no such endpoint: {path[:200]}"})
        except (ConnectionError, TimeoutError):  # the client left or stalled: no one to answer
            self.close_connection = True
        except Exception:  # a bug: log it, answer 500, keep serving
            logger.exception("serve: %s %s failed", self.command, path[:200])
            self._json(500, {"error": "internal error"})

    def _refuse(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        allow = "POST" if path == PUSHER_AUTH else "GET, HEAD"
        self._json(405, {"error": f"{self.command} is not supported here: {allow}"}, allow)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (414 request line too long, 431 headers too long or
        too many, 400 malformed request line, 505 HTTP/2 request line) as JSON, like every
        other error: not its HTML page."""
        short = self.responses.get(code, ("error", ""))[0]
        # A status line and headers also when the request line failed to parse (then
        # http.server still says HTTP/0.9, which has neither).
        self.request_version = "HTTP/1.0"
        self.log_error("code %d, message %s", code, message or short)
        self.close_connection = True
        text = message or short
        if explain:
            text = f"{text}: {explain}"
        self._json(code, {"error": text[:500]}, headers={"Connection": "close"})

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
            self._json(404, {"error": found[:300]})
        else:
            self._send(200, found.body, found.content_type, found.headers)

    def _health(self, report: dict[str, Any]) -> None:
        self._json(503 if report.get("status") == UNHEALTHY else 200, report)

    def _api(self, path: str) -> None:
        body = self._body()
        if body is not None:
            query = urlsplit(self.path).query
            self._json(*api.answer(self.server, self.command, path, query, self.headers, body))

    def _body(self) -> bytes | None:
        """The request's body, or None once a 400 / 408 / 413 has answered why not."""
        if self.headers.get("Transfer-Encoding"):
            self._json(411, {"error": "Transfer-Encoding is not supported: send Content-Length"})
            return None
        length = self.headers.get("Content-Length") or "0"
        if _CONTENT_LENGTH.fullmatch(length) is None:
            self._json(400, {"error": f"Content-Length must be ASCII digits, not {length[:40]!r}"})
            return None
        if int(length) > api.MAX_BODY:
            self._json(413, {"error": f"Content-Length must be 0..{api.MAX_BODY}, not {length}"})
            return None
        try:
            body = self.rfile.read(int(length)) if int(length) else b""
        except TimeoutError as exc:  # silent too long, or past the request's deadline
            self._json(408, {"error": f"request body not received: {exc}"})
            return None
        if len(body) < int(length):
            self._json(400, {"error": f"body ended after {len(body)} of {length} bytes"})
            return None
        return body

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept") or "")
        self._send(200, encoder(self.server.registry), content_type)

    # --- plumbing ---------------------------------------------------------------------
    def _json(
        self,
        code: int,
        body: dict[str, Any],
        allow: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body, default=_json_default, sort_keys=True).encode()
        extra = {"Allow": allow} if allow else {}
        self._send(code, data, "application/json", extra | (headers or {}))

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


class _BusyHandler(_Handler):
    """A connection beyond ``AGENTQ_SERVE_MAX_CONNECTIONS``: read its request head
    (briefly) and answer 503, whatever it asked."""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        wait = self.server.busy_read_s
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, wait, wait))

    def _dispatch(self) -> None:
        self._busy()

    def _refuse(self) -> None:
        self._busy()

    def _busy(self) -> None:
        limit = self.server.max_connections
        self._json(
            503,
            {"error": f"busy: {limit} connections are being served; try again shortly"},
            headers={"Retry-After": "1", "Connection": "close"},
        )


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> HealthServer:
    """A bound server (``port`` 0 picks a free one); call ``serve_forever()`` on it."""
    return HealthServer(
        settings,
        host if host is not None else settings.serve_host,
        settings.serve_port if port is None else port,
    )
