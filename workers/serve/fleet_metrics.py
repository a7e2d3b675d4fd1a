"""The fleet's metrics of ``GET /metrics``: tasks by state, runtime and queue wait, workers.

Read at scrape time like the rest of :mod:`workers.serve.metrics`:

* tasks and histograms from what the recorders counted in the database while recording
  (:mod:`persistence.task_counts`): exact with any number of workers and recorders;
* workers from the agent instances' heartbeats (who is online, which agent queues it
  consumes) and the workers' own progress reports in Redis (active tasks, stalled:
  :mod:`workers.health.progress`).

Every series of a known agent type, state or agent queue is exported, zeros included:
a rate over a series that appears only at its first event misses that event.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from persistence.observability import online_instances
from persistence.schema import AGENT_TYPE_VALUES
from persistence.sql_store import SQLStore
from persistence.task_counts import STATES, task_counts
from workers.health.checks import _redis, agent_type_queues
from workers.health.lost_workers import lost_workers
from workers.health.progress import check_progress, read_reports
from workers.settings import Settings

# A bucket bound as Prometheus writes it ("+Inf", "0.5"); prometheus_client leaves it untyped.
_go_float: Callable[[float], str] = floatToGoString

_HELP = {
    "runtime": ("agentq_task_runtime_seconds", "Run time of completed and failed runs."),
    "queue_wait": (
        "agentq_task_queue_wait_seconds",
        "Time from an attempt's publish (queued) to its start (running).",
    ),
}


def task_metrics(store: SQLStore) -> list[Metric]:
    counts = task_counts(store)
    tasks = CounterMetricFamily(
        "agentq_tasks",
        "Task transitions recorded, by agent type and lifecycle state (each counted once).",
        labels=["agent_type", "state"],
    )
    for agent_type in AGENT_TYPE_VALUES:
        for state in STATES:
            tasks.add_metric([agent_type, state], counts.tasks.get((agent_type, state), 0))
    out: list[Metric] = [tasks]
    for metric, (name, doc) in _HELP.items():
        family = HistogramMetricFamily(name, doc, labels=["agent_type"])
        for agent_type in AGENT_TYPE_VALUES:
            h = counts.histogram(metric, agent_type)
            buckets = [(_go_float(le), float(n)) for le, n in h.cumulative()]
            family.add_metric([agent_type], buckets, h.total)
        out.append(family)
    return out


def worker_metrics(store: SQLStore, settings: Settings) -> list[Metric]:
    stale = float(getattr(settings, "stale_agent_seconds", 60.0))
    instances = online_instances(store, stale)
    workers = sorted({w for w, _ in instances})
    up = GaugeMetricFamily("agentq_worker_up", "1 per online worker.", labels=["worker"])
    for worker in workers:
        up.add_metric([worker], 1.0)
    consumers = GaugeMetricFamily(
        "agentq_queue_consumers",
        "Online workers consuming each agent queue (0: nobody runs its tasks).",
        labels=["queue"],
    )
    for agent_type, queue in agent_type_queues():
        n = len({w for w, a in instances if a == agent_type})
        consumers.add_metric([queue], float(n))
    out: list[Metric] = [up, consumers]
    stall_s = float(getattr(settings, "worker_stall_seconds", 300.0))
    progress = check_progress(settings.recorder_redis_url, workers, stall_s)
    if progress.get("ok"):  # Redis away: agentq_up{source="events"} says so
        active = GaugeMetricFamily(
            "agentq_worker_tasks_active",
            "Tasks a pool process of the worker runs now (its own progress report).",
            labels=["worker"],
        )
        stalled = GaugeMetricFamily(
            "agentq_worker_stalled",
            "1 when health calls the online worker stalled, else 0.",
            labels=["worker"],
        )
        names = {s["worker"] for s in progress["stalled"]}
        for worker, report in sorted(progress["workers"].items()):
            active.add_metric([worker], float(report.get("active") or 0))
        for worker in workers:
            stalled.add_metric([worker], 1.0 if worker in names else 0.0)
        out += [active, stalled]
    return out


def lost_worker_metrics(redis_url: str, lost_after_s: float) -> list[Metric]:
    """``agentq_worker_lost``: workers whose progress report stopped without a warm
    shutdown (:mod:`workers.health.lost_workers`); from Redis alone, so a PostgreSQL
    outage does not hide a worker killed during it."""
    client = _redis(redis_url)
    try:
        reports = read_reports(client)
    finally:
        client.close()
    lost = GaugeMetricFamily(
        "agentq_worker_lost",
        "1 per worker whose progress report stopped without a warm shutdown "
        "(older than AGENTQ_STALE_AGENT_SECONDS, forgotten after 15 minutes).",
        labels=["worker"],
    )
    for worker in sorted(lost_workers(reports, time.time(), lost_after_s)):
        lost.add_metric([worker], 1.0)
    return [lost]


def realtime_metrics(redis_url: str) -> list[Metric]:
    """The fresh reports of the realtime bridges (:mod:`workers.realtime.status_report`);
    nothing when no bridge reports (realtime off, or the bridge is down)."""
    import redis

    from workers.realtime.status_report import read_reports

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        reports = read_reports(client)
    finally:
        client.close()
    if not reports:
        return []
    return [
        GaugeMetricFamily(
            "agentq_realtime_lag_seconds",
            "How far behind Pusher the realtime bridge is (the worst bridge).",
            value=max(float(r.get("lag_seconds") or 0) for r in reports),
        ),
        GaugeMetricFamily(
            "agentq_realtime_breaker_open",
            "1 while the circuit breaker in front of Pusher is open (any bridge).",
            value=max(float(r.get("breaker_open") or 0) for r in reports),
        ),
    ]


def reconcile_metrics(redis_url: str) -> list[Metric]:
    """The last reconcile pass (``workers/reconcile/report.py``): what it found and
    repaired per kind, every kind exported (zeros too); nothing before the first pass."""
    import redis

    from workers.reconcile.kinds import KINDS
    from workers.reconcile.report import read_last

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        last = read_last(client)
    finally:
        client.close()
    if last is None:
        return []
    found = GaugeMetricFamily(
        "agentq_reconcile_discrepancies",
        "Differences between the record and the broker the last reconcile pass found.",
        labels=["kind"],
    )
    repaired = GaugeMetricFamily(
        "agentq_reconcile_repaired",
        "Of those, how many the last pass repaired.",
        labels=["kind"],
    )
    for kind in KINDS:
        found.add_metric([kind], float((last.get("counts") or {}).get(kind, 0)))
        repaired.add_metric([kind], float((last.get("repaired") or {}).get(kind, 0)))
    at = GaugeMetricFamily(
        "agentq_reconcile_last_run_timestamp_seconds",
        "When the last reconcile pass ran (seconds since the epoch).",
        value=float(last.get("at") or 0),
    )
    return [found, repaired, at]
