"""Prometheus metrics of ``agentq serve`` (``GET /metrics``), read at scrape time.

A custom collector: every scrape asks the sources themselves, so several ``agentq
serve`` processes (or a restart) always agree and nothing is counted in memory.
A source that cannot be reached drops its metrics from that scrape and shows as
``agentq_up{source="..."} 0``; the scrape itself still answers.

| metric | labels | meaning |
|---|---|---|
| ``agentq_executions`` | status, agent_type | executions in the table by current status |
| ``agentq_recording_backlog`` | | transitions in the recording stream not yet in the database |
| ``agentq_recording_lag_seconds`` | | age of the oldest of them (0 when none) |
| ``agentq_recording_dead_letters`` | | entries in the dead-letter stream |
| ``agentq_dead_letters`` | source | dead letters kept now: ``messages`` (broker), ``recording`` |
| ``agentq_poison_messages_total`` | kind | broker messages ever set aside, by kind of poison |
| ``agentq_queue_depth`` | queue | messages waiting per Celery queue (all priority steps) |
| ``agentq_mirror_backlog`` | | outbox rows the Supabase mirror has yet to replay |
| ``agentq_agent_instances_online`` | | agent instances with a fresh heartbeat |
| ``agentq_tasks_total`` | agent_type, state | transitions recorded (fleet_metrics.py) |
| ``agentq_task_runtime_seconds`` | agent_type | histogram: run time of finished runs |
| ``agentq_task_queue_wait_seconds`` | agent_type | histogram: queued to running |
| ``agentq_worker_up`` / ``_tasks_active`` / ``_stalled`` | worker | per online worker |
| ``agentq_queue_consumers`` | queue | online workers consuming each agent queue |
| ``agentq_worker_lost`` | worker | a worker's progress report stopped without a warm shutdown |
| ``agentq_realtime_lag_seconds`` / ``_breaker_open`` | | the realtime bridges' reports |
| ``agentq_reconcile_discrepancies`` / ``_repaired`` | kind | last reconcile pass: found, repaired |
| ``agentq_reconcile_last_run_timestamp_seconds`` | | when it ran |
| ``agentq_schema_drift`` | | primary and SQL mirror differ (only with a mirror) |
| ``agentq_up`` | source | database / broker / events (/ supabase when configured) answered |
| ``agentq_scrape_duration_seconds`` | | how long this scrape took |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from persistence.formatting import one_line
from persistence.schema import AGENT_TYPE_VALUES, TASK_STATUS_VALUES
from persistence.sql_store import SQLStore
from workers.health.checks import _secrets, check_queues, check_recording, queue_names
from workers.serve.drift_metric import SchemaDrift
from workers.serve.fleet_metrics import (
    lost_worker_metrics,
    realtime_metrics,
    reconcile_metrics,
    task_metrics,
    worker_metrics,
)
from workers.settings import Settings

logger = logging.getLogger(__name__)

SOURCES = ("database", "broker", "events")


class AgentqCollector(Collector):
    """Collects the metrics above from ``store`` and the Redis servers in ``settings``."""

    def __init__(self, settings: Settings, store: SQLStore) -> None:
        self.settings = settings
        self.store = store
        self.drift = SchemaDrift(settings)

    def describe(self) -> list[Metric]:
        return []  # nothing is collected at registration, only when scraped

    def collect(self) -> Iterator[Metric]:
        start = time.perf_counter()
        up = GaugeMetricFamily(
            "agentq_up", "Whether a source answered this scrape (1) or not (0).", labels=["source"]
        )
        sources = [("database", self._database), ("broker", self._broker), ("events", self._events)]
        if self._supabase_configured():
            sources.append(("supabase", self._supabase))
        for source, read in sources:
            metrics = self._guarded(source, read)
            up.add_metric([source], 0.0 if metrics is None else 1.0)
            yield from metrics or []
        yield up
        yield GaugeMetricFamily(
            "agentq_scrape_duration_seconds",
            "How long this scrape took.",
            value=time.perf_counter() - start,
        )

    def _guarded(self, source: str, read: Callable[[], list[Metric]]) -> list[Metric] | None:
        try:
            return read()
        except Exception as exc:
            url = {
                "database": self.settings.database_url.get_secret_value(),
                "broker": self.settings.broker_url,
                "events": self.settings.recorder_redis_url,
                "supabase": str(getattr(self.settings, "supabase_url", "") or ""),
            }[source]
            logger.warning(
                "metrics: %s unavailable: %s", source, one_line(exc, secrets=_secrets(url))
            )
            return None

    # --- sources ----------------------------------------------------------------------
    def _database(self) -> list[Metric]:
        from persistence.health import instances_summary
        from persistence.observability import execution_counts, mirror_backlog

        counts = execution_counts(self.store)
        executions = GaugeMetricFamily(
            "agentq_executions",
            "Executions in agent_executions by current status and agent type.",
            labels=["status", "agent_type"],
        )
        # Every combination, zeros included: a series never vanishes when its count is 0.
        for status in TASK_STATUS_VALUES:
            for agent_type in AGENT_TYPE_VALUES:
                executions.add_metric([status, agent_type], counts.get((status, agent_type), 0))
        stale = float(getattr(self.settings, "stale_agent_seconds", 60.0))
        online = instances_summary(self.store, stale).get("online") or 0
        out: list[Metric] = [
            executions,
            GaugeMetricFamily(
                "agentq_agent_instances_online",
                "Agent instances that are not offline and have a fresh heartbeat.",
                value=float(online),
            ),
        ]
        out += task_metrics(self.store)
        out += worker_metrics(self.store, self.settings)
        out += self.drift.metrics()
        backlog = mirror_backlog(self.store)
        if backlog is not None:
            out.append(
                GaugeMetricFamily(
                    "agentq_mirror_backlog",
                    "Outbox rows the Supabase mirror has yet to replay.",
                    value=float(backlog),
                )
            )
        return out

    def _supabase_configured(self) -> bool:
        if getattr(self.settings, "enable_supabase_integration", None) is False:
            return False
        configured = getattr(self.settings, "is_supabase_configured", None)
        return bool(configured and configured())

    def _supabase(self) -> list[Metric]:
        """Supabase's REST API answers (health's check)."""
        from workers.health.checks import check_supabase

        check = check_supabase(self.settings)
        if not check.get("ok"):
            raise RuntimeError(check.get("error"))
        return []

    def _broker(self) -> list[Metric]:
        queues = check_queues(self.settings.broker_url, queue_names())
        if not queues.get("ok"):
            raise RuntimeError(queues.get("error"))
        depth = GaugeMetricFamily(
            "agentq_queue_depth", "Messages waiting per Celery queue.", labels=["queue"]
        )
        for queue, n in sorted(queues["depth"].items()):
            depth.add_metric([queue], float(n))
        return [depth]

    def _events(self) -> list[Metric]:
        rec = check_recording(self.settings.recorder_redis_url, self.settings.events_stream)
        if not rec.get("ok"):
            raise RuntimeError(rec.get("error"))
        return [
            *self._dead_letters(),
            *realtime_metrics(self.settings.recorder_redis_url),
            *lost_worker_metrics(
                self.settings.recorder_redis_url,
                float(getattr(self.settings, "stale_agent_seconds", 60.0)),
            ),
            *reconcile_metrics(self.settings.recorder_redis_url),
            GaugeMetricFamily(
                "agentq_recording_backlog",
                "Transitions in the recording stream not yet in the database.",
                value=float(rec["backlog"]),
            ),
            GaugeMetricFamily(
                "agentq_recording_lag_seconds",
                "Age of the oldest transition not yet recorded (0 when none).",
                value=float(rec["oldest_age_seconds"] or 0.0),
            ),
            GaugeMetricFamily(
                "agentq_recording_dead_letters",
                "Entries in the recording dead-letter stream.",
                value=float(rec["dead_letters"]),
            ),
        ]

    def _dead_letters(self) -> list[Metric]:
        import redis

        from workers.broker.dead_letters import DeadLetters

        client = redis.Redis.from_url(
            self.settings.recorder_redis_url, socket_timeout=5, socket_connect_timeout=3
        )
        try:
            store = DeadLetters(client, self.settings.events_stream)
            counts, kinds = store.count(), store.kinds_total()
        finally:
            client.close()
        now = GaugeMetricFamily(
            "agentq_dead_letters", "Dead letters kept now, per source.", labels=["source"]
        )
        for source, n in counts.items():
            now.add_metric([source], float(n))
        total = CounterMetricFamily(
            "agentq_poison_messages",
            "Broker messages set aside instead of run, by kind of poison.",
            labels=["kind"],
        )
        for kind, n in sorted(kinds.items()):
            total.add_metric([kind], float(n))
        return [now, total]
