"""The database side of the bridge: one psycopg 3 connection that LISTENs to the change
feed of revision 0003 and reads the changed rows by id, or the ids changed since a time
(to catch up after a lost connection).

Fetching on the listening connection is safe: notifications that arrive while a query
runs are kept by psycopg and handed out by the next ``notifies()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from persistence.sql import queries
from workers.realtime.changes import parse_notification

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "agentq_realtime"
# Rows read per query; a catch-up reads at most CATCHUP_LIMIT ids per table (the newest).
FETCH_CHUNK = 500
CATCHUP_LIMIT = 50_000

DatabaseGone = psycopg.OperationalError


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class ChangeFeed:
    """Connect (and LISTEN), wait for notifications, read rows. Not thread-safe: the
    bridge's loop is its only user."""

    def __init__(self, database_url: str, *, connect_timeout: float = 5.0) -> None:
        self._url = _psycopg_url(database_url)
        self._connect_timeout = connect_timeout
        self.conn: psycopg.Connection[dict[str, Any]] | None = None

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def connect(self) -> datetime:
        """Open the connection and LISTEN; returns the database's time (the point from
        which every committed change will be notified)."""
        self.close()
        self.conn = psycopg.connect(
            self._url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=max(1, int(self._connect_timeout)),
            application_name="agentq-realtime",
            # A half-open TCP connection (host gone) is noticed within ~30 s.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
        return self.now()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):  # already broken: nothing to tidy
                self.conn.close()
            self.conn = None

    def installed(self) -> bool:
        """True when the triggers of revision 0003 exist."""
        row = self._conn.execute(queries("realtime.sql")["feed_installed"]).fetchone()
        return bool(row and row["count"])

    def now(self) -> datetime:
        row = self._conn.execute(queries("realtime.sql")["db_now"]).fetchone()
        assert row is not None
        now: datetime = row["now"]
        return now

    @property
    def _conn(self) -> psycopg.Connection[dict[str, Any]]:
        if self.conn is None:
            raise DatabaseGone("not connected")
        return self.conn

    def wait(
        self, timeout: float, stop_after: int | None = None
    ) -> Iterator[tuple[str, list[str]]]:
        """(table, ids) of each notification within ``timeout`` seconds."""
        for note in self._conn.notifies(timeout=timeout, stop_after=stop_after):
            parsed = parse_notification(note.payload)
            if parsed is None:
                log.warning("realtime: ignoring notification %r", note.payload[:80])
                continue
            yield parsed

    def fetch(self, table: str, ids: list[str], *, with_output: bool) -> dict[str, dict[str, Any]]:
        """The current rows of ``table`` with these ids, by id (deleted rows are absent)."""
        query = queries("realtime.sql")[f"fetch_{table}"]
        params: dict[str, Any] = {"ids": ids, "with_output": with_output}
        return {str(r["id"]): r for r in self._conn.execute(query, params).fetchall()}

    def changed_since(self, table: str, since: datetime) -> list[str]:
        """Ids of rows of ``table`` changed since ``since``, oldest change first."""
        query = queries("realtime.sql")[f"changed_{table}"]
        rows = self._conn.execute(query, {"since": since, "limit": CATCHUP_LIMIT}).fetchall()
        return [str(r["id"]) for r in rows]


def catchup_since(watermark: datetime, margin_s: float, max_s: float, now: datetime) -> datetime:
    """Where a catch-up starts: the last time the bridge was surely up to date, less a
    margin for transactions open then, and never further back than ``max_s``."""
    return max(watermark - timedelta(seconds=margin_s), now - timedelta(seconds=max_s))
