"""The bridge's numbers for Prometheus, written where ``agentq serve /metrics`` reads them.

The bridge runs in a process of its own (``agentq realtime``) or inside another one, and
``agentq serve`` may run on another host: so every bridge writes, at most once a second,
one field of the hash ``agentq:realtime:status`` on the recording Redis — its
``host:pid`` → ``{"at", "lag_seconds", "breaker_open"}`` — and serve exports the fresh ones
(``workers/serve/fleet_metrics.py``). A bridge that stops reporting drops out of the
metrics after :data:`FRESH_S`; Redis being away never slows or stops the bridge for more
than one short timeout per :data:`RETRY_S`.

``lag_seconds`` is how far behind Pusher the bridge is now: the age of the oldest change
waiting to be sent, or the lag of the last flush (oldest change's ``updated_at`` →
pushed) while that flush is recent (:data:`FRESH_S`); 0 when idle.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import orjson

log = logging.getLogger(__name__)

STATUS_KEY = "agentq:realtime:status"
EVERY_S = 1.0  # at most one write a second
RETRY_S = 10.0  # after a failed write, wait this long before the next try
FRESH_S = 60.0  # reports (and flush lags) older than this count for nothing


class StatusReport:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.field = f"{socket.gethostname()}:{os.getpid()}"
        self._client: Any = None
        self._next = 0.0
        self._flush_lag: tuple[float, float] | None = None  # (lag, when: monotonic)

    def note_flush(self, lag: float) -> None:
        self._flush_lag = (lag, time.monotonic())

    def lag(self, oldest_pending_s: float | None) -> float:
        now = time.monotonic()
        flushed = 0.0
        if self._flush_lag is not None and now - self._flush_lag[1] <= FRESH_S:
            flushed = self._flush_lag[0]
        return max(flushed, oldest_pending_s or 0.0)

    def maybe_write(self, oldest_pending_s: float | None, breaker_state: str) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        report = {
            "at": round(time.time(), 3),
            "lag_seconds": round(self.lag(oldest_pending_s), 3),
            "breaker_open": 1 if breaker_state == "open" else 0,
        }
        try:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.redis_url, socket_timeout=1, socket_connect_timeout=1
                )
            self._client.hset(STATUS_KEY, self.field, orjson.dumps(report))
            self._next = now + EVERY_S
        except Exception as exc:  # the bridge's work comes first
            log.warning("realtime: status report not written: %s", type(exc).__name__)
            self._next = now + RETRY_S

    def remove(self) -> None:
        """At a clean stop: drop this bridge's field (never raises)."""
        try:
            if self._client is not None:
                self._client.hdel(STATUS_KEY, self.field)
                self._client.close()
        except Exception:
            pass


def read_reports(client: Any) -> list[dict[str, Any]]:
    """The fresh reports of every bridge (stale and unreadable ones left out)."""
    now = time.time()
    out = []
    for raw in client.hvals(STATUS_KEY):
        try:
            report = orjson.loads(raw)
            if now - float(report["at"]) <= FRESH_S:
                out.append(report)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return out
