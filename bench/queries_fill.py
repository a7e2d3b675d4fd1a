"""The rest of a database a month old for ``bench/bench_queries.py``: metrics, health rows
and unfinished executions, around the executions ``bench/drain/load.py`` copies.

* ``agent_metrics``: what ``aggregate_metrics`` writes every 5 minutes, one row per agent
  instance and one per agent type and period, period after period, over ``days`` days
  (the API's longest window is 90 days, metrics retention's default).
* ``system_health``: the row beat stores every 5 minutes, over the same days.
* Unfinished executions: the loader writes only ended ones; the newest few hundred
  become running, queued and retrying (the health report's ``open`` and the page's
  status filters need some), as an ongoing fleet would have.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg

PERIOD_MIN = 5
OPEN = (("running", 200), ("queued", 100), ("retrying", 20))

_PERIODS = f"""
generate_series(
    date_bin('{PERIOD_MIN} min', now() - make_interval(days => %(days)s), timestamptz 'epoch'),
    date_bin('{PERIOD_MIN} min', now(), timestamptz 'epoch') - interval '{PERIOD_MIN} min',
    interval '{PERIOD_MIN} min') AS p
"""

_METRICS = f"""
INSERT INTO agent_metrics (
    agent_instance_id, agent_type, period_start, period_end, period_duration_minutes,
    tasks_completed, tasks_failed, tasks_cancelled, total_tasks, success_rate, error_rate,
    average_execution_time, median_execution_time, p95_execution_time,
    tasks_per_minute, tasks_per_hour, average_quality_score)
SELECT s.instance, s.agent_type, p, p + interval '{PERIOD_MIN} min', {PERIOD_MIN},
       9 * s.k, s.k, 0, 10 * s.k, 90.0, 10.0,
       1.0 + random(), 1.0 + random(), 1.9 + random(), 2.0 * s.k, 120.0 * s.k, 0.75
FROM (SELECT id AS instance, agent_type, 1 AS k FROM agent_instances
      UNION ALL
      SELECT DISTINCT NULL::uuid, agent_type, count(*) OVER (PARTITION BY agent_type)::int
      FROM agent_instances) s
CROSS JOIN {_PERIODS}
ORDER BY p, s.agent_type, s.instance
"""

_HEALTH = f"""
INSERT INTO system_health (
    "timestamp", period_minutes, total_agents, active_agents, idle_agents, busy_agents,
    total_tasks, completed_tasks, failed_tasks, system_success_rate, system_error_rate,
    average_response_time, p95_response_time, tasks_per_minute, tasks_per_hour,
    overall_health_score, status, details)
SELECT p, {PERIOD_MIN}, 64, 64, 40, 24, 600, 540, 60, 90.0, 10.0, 1.0, 1.9, 120.0, 7200.0,
       100.0, 'healthy',
       jsonb_build_object('components', jsonb_build_object('database', 'ok', 'broker', 'ok'))
FROM {_PERIODS}
"""

# The newest ended executions become unfinished ones (newest first: running, queued,
# retrying), as the recorder leaves them: no end time, status_at the last transition.
_OPEN = """
UPDATE agent_executions e SET
    status = %(status)s::task_status,
    completed_at = NULL,
    execution_time_seconds = NULL,
    status_at = CASE WHEN %(status)s = 'queued' THEN e.enqueued_at ELSE e.started_at END,
    started_at = CASE WHEN %(status)s = 'queued' THEN NULL ELSE e.started_at END
WHERE e.id IN (
    SELECT id FROM agent_executions
    WHERE status IN ('completed', 'failed', 'cancelled')
    ORDER BY created_at DESC, task_id DESC
    LIMIT %(n)s)
"""


def fill(url: str, days: int) -> dict[str, Any]:
    """Metrics and health rows over ``days`` days, and the unfinished executions; the
    tables analyzed. Returns the row counts."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE agent_metrics, system_health")
        # No realtime trigger announces the bench's own rows.
        conn.execute("SET session_replication_role = replica")
        conn.execute(_METRICS, {"days": days})
        conn.execute(_HEALTH, {"days": days})
        for status, n in OPEN:
            conn.execute(_OPEN, {"status": status, "n": n})
        for table in ("agent_metrics", "system_health", "agent_instances"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("ANALYZE agent_executions")
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("agent_metrics", "system_health", "agent_instances")
        }
    counts["open_executions"] = sum(n for _, n in OPEN)
    return counts


# Every column of agent_executions the loader fills; the times shifted by the copy's
# offset, ids new, the rest (status, type, instance, user, session) the original's.
_COPY_COLS = (
    "agent_instance_id, agent_type, task_type, priority, input_data, output_data, status,"
    " error_message, error_details, execution_time_seconds, quality_score, user_id,"
    " session_id, retry_count, max_retries, attempts, error_type, worker"
)
_TIMES = ("created_at", "started_at", "completed_at", "enqueued_at", "status_at", "updated_at")
_MULTIPLY = f"""
INSERT INTO agent_executions (id, task_id, {_COPY_COLS}, {", ".join(_TIMES)})
SELECT gen_random_uuid(), gen_random_uuid()::text, {_COPY_COLS},
       {", ".join(f"{t} + k * %(offset)s" for t in _TIMES)}
FROM agent_executions CROSS JOIN generate_series(1, %(copies)s) AS k
"""


def multiply(url: str, factor: int) -> dict[str, Any]:
    """``factor`` times the loaded executions over the same month (each copied
    ``factor - 1`` times, its times shifted by a fraction of the gap between two loaded
    executions): the rate ``factor`` times higher, each user ``factor`` times as busy.
    Their history stays as loaded (point lookups by task_id: bench/README.md). Keys and
    indexes are dropped and rebuilt around the copy, as the loader does."""
    from bench.drain.load import _definitions

    t = time.monotonic()
    with psycopg.connect(url) as conn:
        n = conn.execute("SELECT count(*) FROM agent_executions").fetchone()[0]  # type: ignore[index]
        cons, indexes = _definitions(conn)
        conn.execute("SET session_replication_role = replica")
        for table, name, _ in reversed(cons):
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for ddl in indexes:
            conn.execute("DROP INDEX " + ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0])
        gap_s = 30 * 86_400.0 / max(1, n)
        offset = timedelta(seconds=gap_s / factor)
        conn.execute(_MULTIPLY, {"offset": offset, "copies": factor - 1})
        conn.commit()
        copied = time.monotonic() - t
        conn.execute("SET maintenance_work_mem = '512MB'")
        for ddl in indexes:
            conn.execute(ddl)
        for table, name, definition in cons:
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE agent_executions")
    return {
        "executions": n * factor,
        "copy_s": round(copied, 1),
        "total_s": round(time.monotonic() - t, 1),
        "method": f"each loaded execution copied {factor - 1} times in SQL, times shifted",
    }
