"""The fleet's task counters and histograms, as the recorders counted them.

``agentq_record_batch_within()`` counts every transition it records for the first time
in table ``agentq_task_counts`` (``persistence/sql/0010_task_counts.sql``, which says why
there): lifecycle states, and the runtime and queue-wait histograms in Prometheus's
buckets. This module reads them back for ``agentq serve /metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from persistence.errors import wrap_db_errors
from persistence.observability import STATEMENT_TIMEOUT_MS
from persistence.sql import queries
from persistence.sql_store import SQLStore

# The buckets' upper bounds in seconds, as in agentq_bucket() (10 ms to 10 min: agents call LLMs).
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
STATES = ("queued", "started", "succeeded", "failed", "retried", "cancelled")
HISTOGRAMS = ("runtime", "queue_wait")


@dataclass
class Histogram:
    """One agent type's histogram: count per bucket (not cumulative; ``inf`` above the last)."""

    buckets: dict[float, int] = field(default_factory=dict)
    count: int = 0
    total: float = 0.0

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= it) for every bound and +Inf, as Prometheus wants."""
        out, seen = [], 0
        for bound in (*BUCKETS, float("inf")):
            seen += self.buckets.get(float(bound), 0)
            out.append((float(bound), seen))
        return out


@dataclass
class TaskCounts:
    tasks: dict[tuple[str, str], int] = field(default_factory=dict)  # (agent_type, state)
    histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)  # (metric, type)

    def histogram(self, metric: str, agent_type: str) -> Histogram:
        return self.histograms.setdefault((metric, agent_type), Histogram())


def task_counts(store: SQLStore) -> TaskCounts:
    """Every counter and histogram, summed over the shards."""
    out = TaskCounts()
    with wrap_db_errors(), store.engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        rows = conn.exec_driver_sql(queries("observability.sql")["task_counts"]).all()
    for agent_type, metric, label, n, total in rows:
        if metric == "tasks":
            out.tasks[(agent_type, label)] = int(n)
        elif metric in HISTOGRAMS:
            h = out.histogram(metric, agent_type)
            h.buckets[float(label)] = h.buckets.get(float(label), 0) + int(n)
            h.count += int(n)
            h.total += float(total)
    return out
