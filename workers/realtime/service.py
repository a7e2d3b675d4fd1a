"""``RealtimeIntegrationService``: the bridge's loop, in a thread of its own.

One loop does everything, in order, so that a row's events can never overtake each
other: wait for notifications (the first one opens a batch window), then flush — read
the current rows, run custom handlers, build events, send them ≤ 10 per Pusher call
through the circuit breaker. Pusher trouble only ever costs events (counted as dropped;
the rows are sent again, as they are then, once Pusher is back); it never reaches the
database or the workers. A lost LISTEN connection is reopened with backoff, and the rows
changed meanwhile are read by ``updated_at`` (catch-up).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pybreaker

from workers.realtime.breaker import PusherBreaker
from workers.realtime.changes import Change, Key, PendingChanges
from workers.realtime.config import TABLES, RealtimeConfig
from workers.realtime.counters import Counters
from workers.realtime.listener import (
    FETCH_CHUNK,
    NOTIFY_CHANNEL,
    ChangeFeed,
    DatabaseGone,
    catchup_since,
)
from workers.realtime.payloads import Event, build_payload, events_for
from workers.realtime.pusher_sink import PusherCallFailed, PusherSink, batches
from workers.realtime.status_report import StatusReport
from workers.settings import Settings, get_settings

log = logging.getLogger(__name__)

Handler = Callable[[Change], None]

IDLE_POLL_S = 0.5  # how often an idle loop looks at the stop flag
MAX_BACKOFF_S = 5.0
# Rows whose events were dropped, remembered to send again when Pusher is back.
MAX_RESYNC_ROWS = 10_000


class RealtimeNotInstalled(RuntimeError):
    """The database has no change feed: run ``agentq migrate`` (revision 0003)."""


def _scrub(message: str) -> str:
    # URLs in requests' errors carry the signed query string: keep them out of the status.
    return re.sub(r"\?\S*", "?…", message)[:300]


class RealtimeIntegrationService:
    """Committed changes of the three tables → Pusher events.

    Parameters
    ----------
    config:
        What to listen to and where to push; by default from the settings
        (:class:`~workers.settings.SettingsError` when ``PUSHER_*`` are missing).
    sink:
        What sends batches (default: a :class:`PusherSink` on ``config.pusher``).
    """

    def __init__(
        self,
        config: RealtimeConfig | None = None,
        *,
        settings: Settings | None = None,
        sink: PusherSink | None = None,
    ) -> None:
        self.config = config or RealtimeConfig.from_settings(settings or get_settings())
        self._sink = sink or PusherSink(self.config.pusher)
        self._breaker = PusherBreaker(self.config.breaker_failures, self.config.breaker_reset_s)
        self._feed = ChangeFeed(self.config.database_url)
        self._handlers: dict[str, list[Handler]] = {}
        self._pending = PendingChanges()
        self._dropped_rows: dict[Key, None] = {}
        self.counters = Counters()
        self._deadline = 0.0
        self._window_opened = 0.0
        self._watermark: datetime | None = None
        self._last_error: str | None = None
        self._dropping = False
        self._next_probe = 0.0
        self._counters_snapshot: dict[str, Any] = {}
        url = self.config.status_redis_url
        self._report = StatusReport(url) if url else None
        self._publish_counters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- public API ------------------------------------------------------------------
    def add_event_handler(self, table_name: str, handler: Handler) -> None:
        """Call ``handler(change)`` for every committed change of ``table_name``, on the
        bridge's thread (keep it quick), whether or not the filters send it to Pusher.
        An exception is logged and counted, never propagated."""
        if table_name not in TABLES:
            raise ValueError(f"unknown table {table_name!r} (known: {', '.join(TABLES)})")
        # Copy on write: the loop may be iterating the old list.
        self._handlers = {
            **self._handlers,
            table_name: [*self._handlers.get(table_name, []), handler],
        }

    def start(self) -> None:
        """Connect and LISTEN (raises :class:`DatabaseGone` if the database cannot be
        reached, :class:`RealtimeNotInstalled` without revision 0003), then run the loop
        in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._watermark = self._feed.connect()
        if not self._feed.installed():
            self._feed.close()
            raise RealtimeNotInstalled(RealtimeNotInstalled.__doc__)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="agentq-realtime", daemon=True)
        self._thread.start()
        log.info(
            "realtime: listening on %s (NOTIFY %s) for %s; pushing to %s; window %d ms; %s",
            self.config.database_display,
            NOTIFY_CHANNEL,
            ", ".join(sorted(self._tables())),
            self.config.pusher.describe(),
            round(self.config.batch_window_s * 1000),
            self.channels_description(),
        )

    def channels_description(self) -> str:
        """Which channels get events, for the start line and ``get_status()``."""
        c = self.config
        fleet = f"fleet channels {c.channel_prefix}-*" if c.public_channels else "no fleet channels"
        if not c.user_channels:
            return f"{fleet}, no user channels"
        kind = "private" if c.private_user_channels else "public"
        user = ("private-" if c.private_user_channels else "") + f"{c.channel_prefix}-user-<id>"
        return f"{fleet}, {kind} user channels {user}"

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is pending (best effort), stop the loop and close the connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._feed.close()

    def get_status(self) -> dict[str, Any]:
        """Counters (see :mod:`workers.realtime.counters`) as of the loop's last step,
        breaker state, connection."""
        return {
            "running": self._thread is not None and self._thread.is_alive(),
            "connected": self._feed.connected,
            "tables": sorted(self._tables()),
            "database": self.config.database_display,
            "pusher": self.config.pusher.describe(),
            "channels": self.channels_description(),
            "breaker": {"state": self._breaker.state, "opened": self._breaker.opened},
            "last_error": self._last_error,
            **self._counters_snapshot,
        }

    def _publish_counters(self) -> None:
        # Read by other threads: a copy taken between two steps, so the books balance.
        self._counters_snapshot = {**self.counters.as_dict(), "pending": len(self._pending)}
        if self._report is not None:  # for /metrics: pending since the window opened
            waiting = time.monotonic() - self._window_opened if self._pending else None
            self._report.maybe_write(waiting, self._breaker.state)

    # --- the loop ------------------------------------------------------------------------
    def _tables(self) -> set[str]:
        """Tables worth reading: those Pusher gets, and those with handlers."""
        return set(self.config.tables) | set(self._handlers)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not self._feed.connected:
                    self._reconnect()
                self._collect()
                if self._pending and time.monotonic() >= self._deadline:
                    self._flush()
                if self._breaker.take_recovered():
                    self._resync()
                self._probe()
                self._publish_counters()
                backoff = 0.5
            except DatabaseGone as exc:
                self._lost(exc, backoff)
                self._publish_counters()
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as exc:  # never let the thread die; say why and go on
                self._last_error = _scrub(f"{type(exc).__name__}: {exc}")
                log.exception("realtime: unexpected error")
                self._stop.wait(1.0)
        self._final_flush()
        self._publish_counters()
        if self._report is not None:
            self._report.remove()

    def _lost(self, exc: Exception, backoff: float) -> None:
        self._last_error = _scrub(f"database: {exc}")
        log.warning("realtime: database connection lost (%s); retrying in %.1f s", exc, backoff)
        self._feed.close()
        self._stop.wait(backoff)

    def _reconnect(self) -> None:
        at = self._feed.connect()
        since = catchup_since(
            self._watermark or at, self.config.catchup_margin_s, self.config.catchup_max_s, at
        )
        caught = 0
        for table in TABLES:
            if table in self._tables():
                caught += self._receive(table, self._feed.changed_since(table, since))
        self._watermark = at
        self.counters.reconnects += 1
        self.counters.catchups += 1
        self._deadline = time.monotonic()
        log.info("realtime: reconnected; catching up on %d rows changed since %s", caught, since)

    def _collect(self) -> None:
        if self._pending:
            timeout, stop_after = max(0.0, self._deadline - time.monotonic()), None
        else:
            timeout, stop_after = IDLE_POLL_S, 1
        for table, ids in self._feed.wait(timeout, stop_after):
            self._receive(table, ids)

    def _receive(self, table: str, ids: list[str]) -> int:
        if table not in self._tables():
            self.counters.received += len(ids)
            self.counters.filtered += len(ids)
            return 0
        if not self._pending:
            self._window_opened = time.monotonic()
            self._deadline = self._window_opened + self.config.batch_window_s
        received, coalesced = self._pending.add(table, ids)
        self.counters.received += received
        self.counters.coalesced += coalesced
        return received

    def _flush(self) -> None:
        keys = self._pending.take()
        for start in range(0, len(keys), FETCH_CHUNK):
            chunk = keys[start : start + FETCH_CHUNK]
            try:
                db_now = self._feed.now()
                rows = self._fetch(chunk)
            except DatabaseGone:
                # Not sent: wait for the next flush (the catch-up reads them anyway).
                self._pending.restore(keys[start:])
                raise
            began = time.monotonic()
            events, oldest = self._events(chunk, rows)
            self._send(events)
            self._watermark = db_now
            if oldest is not None:
                lag = (db_now - oldest).total_seconds() + time.monotonic() - began
                self.counters.note_lag(lag)
                if self._report is not None:
                    self._report.note_flush(lag)

    def _fetch(self, chunk: list[Key]) -> dict[str, dict[str, dict[str, Any]]]:
        ids: dict[str, list[str]] = {}
        for table, row_id in chunk:
            ids.setdefault(table, []).append(row_id)
        with_output = "output_data" in self.config.execution_fields
        return {t: self._feed.fetch(t, i, with_output=with_output) for t, i in ids.items()}

    def _events(
        self, chunk: list[Key], rows: dict[str, dict[str, dict[str, Any]]]
    ) -> tuple[list[Event], datetime | None]:
        events: list[Event] = []
        oldest: datetime | None = None
        for table, row_id in chunk:
            row = rows[table].get(row_id)
            if row is None:  # deleted since (retention): nothing to show
                self.counters.filtered += 1
                continue
            payload = build_payload(table, row, self.config)
            self._call_handlers(Change(table, row, payload))
            if payload is None:
                self.counters.filtered += 1
                continue
            self.counters.published += 1
            built = events_for(table, row, payload, self.config)
            self.counters.trimmed += sum(e.trimmed for e in built)
            events.extend(built)
            changed = row.get("updated_at") or row.get("created_at")
            if changed is not None and (oldest is None or changed < oldest):
                oldest = changed
        return events, oldest

    def _call_handlers(self, change: Change) -> None:
        for handler in self._handlers.get(change.table, ()):
            try:
                handler(change)
            except Exception:
                self.counters.handler_errors += 1
                log.exception("realtime: handler %r failed on %s", handler, change.table)

    def _send(self, events: list[Event]) -> None:
        self.counters.events += len(events)
        for batch in batches(events):
            try:
                self._breaker.call(self._send_batch, batch)
            except Exception as exc:  # PusherCallFailed, or CircuitBreakerError when open
                self._drop(batch, exc)
            else:
                self.counters.forwarded += len(batch)
                self._dropping = False

    def _send_batch(self, batch: list[Event]) -> None:
        self.counters.batches += 1
        try:
            self._sink.send(batch)
        except PusherCallFailed:
            self.counters.api_errors += 1
            raise

    def _drop(self, batch: list[Event], exc: Exception) -> None:
        if not self._dropping:  # once per outage, not once per batch
            log.warning("realtime: Pusher call failed, dropping events: %s", _scrub(str(exc)))
            self._dropping = True
            self._next_probe = time.monotonic() + self.config.breaker_reset_s
        if not isinstance(exc, pybreaker.CircuitBreakerError):  # keep the cause, not "open"
            self._last_error = _scrub(f"pusher: {exc}")
        self.counters.dropped += len(batch)
        for event in batch:
            self._dropped_rows[event.key] = None
        while len(self._dropped_rows) > MAX_RESYNC_ROWS:
            del self._dropped_rows[next(iter(self._dropped_rows))]

    def _resync(self) -> None:
        """Pusher is back: send the current state of every row whose events were dropped."""
        keys = list(self._dropped_rows)
        self._dropped_rows.clear()
        self._last_error = None
        self.counters.resynced += self._pending.restore(keys)
        self._deadline = time.monotonic()
        log.info("realtime: Pusher is back; sending %d dropped rows again", len(keys))

    def _probe(self) -> None:
        """While the breaker is open and nothing else is to be sent, send one dropped row
        again every reset period: Pusher's recovery is noticed without waiting for news."""
        if (
            self._dropped_rows
            and not self._pending
            and self._breaker.state != "closed"
            and time.monotonic() >= self._next_probe
        ):
            self._next_probe = time.monotonic() + self.config.breaker_reset_s
            self.counters.resynced += self._pending.restore([next(iter(self._dropped_rows))])
            self._deadline = time.monotonic()

    def _final_flush(self) -> None:
        if self._pending and self._feed.connected:
            try:
                self._flush()
            except Exception:
                log.warning("realtime: could not send %d pending rows at stop", len(self._pending))


_service: RealtimeIntegrationService | None = None
_service_lock = threading.Lock()


def get_realtime_service() -> RealtimeIntegrationService:
    """The process-wide service, built from the settings on first use (not started)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = RealtimeIntegrationService()
        return _service
