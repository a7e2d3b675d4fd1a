"""A webhook receiver for Alertmanager: an HTTP server on a free port that keeps every
notification it is sent, for the alert tests and ``agentq soak --alerts`` to read."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from workers.soak.servers import free_port


class WebhookReceiver:
    """Keeps Alertmanager's webhook notifications (their JSON bodies), in arrival order."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._lock = threading.Lock()
        self._notifications: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/alerts"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver._notifications.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # Alertmanager retries on its own; nothing to log per request

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._notifications)

    def alerts(self, name: str, status: str, **labels: str) -> list[dict[str, Any]]:
        """Alerts named ``name`` received with ``status`` (firing | resolved) and
        ``labels``, over every notification so far."""
        return [
            alert
            for note in self.notifications()
            for alert in note.get("alerts", [])
            if alert.get("status") == status
            and alert.get("labels", {}).get("alertname") == name
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]
