"""``agentq_schema_drift``: do the primary and its Supabase mirror hold the same schema?

The answer is ``sync_schemas`` (``persistence/migration_service.py``): both Alembic
revisions, both catalogs and the models compared. That reads two catalogs over two
connections, far more than a scrape should pay every 15 s, and a schema changes only
with a migration: so the answer is kept for :data:`EVERY_S` and shared by the scrapes
in between. Only with a SQL mirror (``plan(settings).mirror == "sql"``); without one,
or a REST-only mirror whose catalog cannot be read, the metric is absent.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client.core import GaugeMetricFamily, Metric

from persistence.formatting import one_line
from workers.settings import Settings

logger = logging.getLogger(__name__)

EVERY_S = 300.0  # how long one comparison's answer is served


class SchemaDrift:
    """A collector of its own too (``describe`` empty: nothing runs at registration)."""

    def __init__(self, settings: Settings, every_s: float = EVERY_S) -> None:
        self.settings = settings
        self.every_s = every_s
        self._lock = threading.Lock()
        self._answer: tuple[float, float | None] | None = None  # (when, value)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        return self.metrics()

    def metrics(self) -> list[Metric]:
        value = self._value()
        if value is None:
            return []
        return [
            GaugeMetricFamily(
                "agentq_schema_drift",
                "1 when the primary and the Supabase mirror differ (sync_schemas), else 0.",
                value=value,
            )
        ]

    def _value(self) -> float | None:
        with self._lock:  # one comparison at a time, whatever the number of scrapers
            now = time.monotonic()
            if self._answer is None or now - self._answer[0] >= self.every_s:
                self._answer = (now, self._compare())
            return self._answer[1]

    def _compare(self) -> float | None:
        from workers.stores import SQL, get_migration_service, plan

        try:
            if plan(self.settings).mirror != SQL:
                return None
            drift = get_migration_service(self.settings).sync_schemas()
        except Exception as exc:  # mirror away: agentq_up{source="supabase"} says so
            logger.warning("metrics: schema comparison failed: %s", one_line(exc))
            return None
        return 0.0 if drift.get("in_sync") else 1.0
