-- Named queries of the metrics aggregation (persistence/metrics.py).
-- Each block starts with "-- name: <name>".

-- name: lock_aggregation
-- Serialize concurrent runs (two beat processes): the second waits, then sees the
-- first one's rows and redoes only the latest period. Released at commit.
-- JIT off for this transaction: the window's bounds are computed inside the statement,
-- so the planner guesses a third of the table and JIT-compiles (30+ ms) a query that
-- reads a few thousand rows.
SELECT pg_advisory_xact_lock(hashtext('agentq.aggregate_metrics')),
       set_config('jit', 'off', true)

-- name: metric_columns
-- The columns of an agent_metrics row that aggregate_metrics writes besides its keys
-- (agent_instance_id, period_start), in one place: both of its upserts insert and
-- update exactly these. A per-type row's conflict key also holds agent_type and
-- period_duration_minutes; setting them to the same values changes nothing.
agent_type, period_end, period_duration_minutes,
tasks_completed, tasks_failed, tasks_cancelled, total_tasks, success_rate, error_rate,
average_execution_time, median_execution_time, p95_execution_time,
tasks_per_minute, tasks_per_hour, average_quality_score, average_confidence_score,
average_user_rating, average_memory_usage_mb, peak_memory_usage_mb,
average_cpu_usage_percent, peak_cpu_usage_percent

-- name: aggregate_metrics
-- Every closed period [period_start, period_end) of %(minutes)s minutes, aligned to
-- multiples of it since the epoch, from the latest period already aggregated (redone,
-- to catch late records) up to the last closed one, at most %(backfill)s periods back.
-- One range scan of idx_agent_executions_completed_at; one pass of GROUPING SETS gives
-- the per-instance and the per-type rows; both are upserted (each on its own key).
-- Returns the ids of the rows upserted.
WITH params AS (
    SELECT make_interval(mins => %(minutes)s) AS step,
           date_bin(make_interval(mins => %(minutes)s),
                    COALESCE(%(now)s::timestamptz, now()),
                    timestamptz '1970-01-01 00:00:00+00') AS upto
), bounds AS (
    SELECT p.step, p.upto,
           GREATEST(p.upto - p.step * %(backfill)s,
                    COALESCE(date_bin(p.step, last.period_start,
                                      timestamptz '1970-01-01 00:00:00+00'),
                             p.upto - p.step * %(backfill)s)) AS since
    FROM params p
    CROSS JOIN LATERAL (
        SELECT max(m.period_start) AS period_start
        FROM agent_metrics m
        WHERE m.period_duration_minutes = %(minutes)s AND m.period_start < p.upto
    ) last
), finished AS (
    SELECT date_bin(b.step, e.completed_at, timestamptz '1970-01-01 00:00:00+00')
               AS period_start,
           e.agent_type, e.agent_instance_id, e.status, e.execution_time_seconds,
           e.quality_score, e.confidence_score, e.user_rating, e.memory_usage_mb,
           e.cpu_usage_percent
    FROM bounds b
    JOIN agent_executions e
      ON e.completed_at >= b.since AND e.completed_at < b.upto
    WHERE e.status IN ('completed', 'failed', 'cancelled')
), agg AS (
    SELECT f.period_start, f.agent_type, f.agent_instance_id,
           GROUPING(f.agent_instance_id) AS is_type,
           count(*) FILTER (WHERE f.status = 'completed') AS completed,
           count(*) FILTER (WHERE f.status = 'failed') AS failed,
           count(*) FILTER (WHERE f.status = 'cancelled') AS cancelled,
           count(*) AS finished,
           avg(f.execution_time_seconds) AS avg_time,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY f.execution_time_seconds) AS median_time,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY f.execution_time_seconds) AS p95_time,
           avg(f.quality_score) AS avg_quality,
           avg(f.confidence_score) AS avg_confidence,
           avg(f.user_rating) AS avg_rating,
           avg(f.memory_usage_mb) AS avg_memory,
           max(f.memory_usage_mb) AS peak_memory,
           avg(f.cpu_usage_percent) AS avg_cpu,
           max(f.cpu_usage_percent) AS peak_cpu
    FROM finished f
    GROUP BY GROUPING SETS ((f.period_start, f.agent_type, f.agent_instance_id),
                            (f.period_start, f.agent_type))
), rows AS (
    -- Named as agent_metrics' columns, so that both upserts below list them once:
    -- {metric_columns} is the metric_columns block, {update_metric_columns} sets each
    -- of them from EXCLUDED (persistence/metrics.py fills both in).
    SELECT a.agent_instance_id, a.is_type, a.period_start,
           a.agent_type,
           a.period_start + make_interval(mins => %(minutes)s) AS period_end,
           %(minutes)s AS period_duration_minutes,
           a.completed AS tasks_completed,
           a.failed AS tasks_failed,
           a.cancelled AS tasks_cancelled,
           a.finished AS total_tasks,
           100.0 * a.completed / a.finished AS success_rate,
           100.0 * a.failed / a.finished AS error_rate,
           COALESCE(a.avg_time, 0.0) AS average_execution_time,
           COALESCE(a.median_time, 0.0) AS median_execution_time,
           COALESCE(a.p95_time, 0.0) AS p95_execution_time,
           a.finished::float8 / %(minutes)s AS tasks_per_minute,
           a.finished * 60.0 / %(minutes)s AS tasks_per_hour,
           COALESCE(a.avg_quality, 0.0) AS average_quality_score,
           COALESCE(a.avg_confidence, 0.0) AS average_confidence_score,
           COALESCE(a.avg_rating, 0.0) AS average_user_rating,
           COALESCE(a.avg_memory, 0.0) AS average_memory_usage_mb,
           COALESCE(a.peak_memory, 0.0) AS peak_memory_usage_mb,
           COALESCE(a.avg_cpu, 0.0) AS average_cpu_usage_percent,
           COALESCE(a.peak_cpu, 0.0) AS peak_cpu_usage_percent
    FROM agg a
    WHERE a.is_type = 1 OR a.agent_instance_id IS NOT NULL
), per_instance AS (
    INSERT INTO agent_metrics AS m (agent_instance_id, period_start, {metric_columns})
    SELECT agent_instance_id, period_start, {metric_columns}
    FROM rows WHERE is_type = 0
    ORDER BY agent_instance_id, period_start
    ON CONFLICT ON CONSTRAINT unique_agent_period DO UPDATE SET {update_metric_columns}
    RETURNING m.id
), per_type AS (
    INSERT INTO agent_metrics AS m (agent_instance_id, period_start, {metric_columns})
    SELECT NULL, period_start, {metric_columns}
    FROM rows WHERE is_type = 1
    ORDER BY agent_type, period_start
    ON CONFLICT (agent_type, period_start, period_duration_minutes)
        WHERE agent_instance_id IS NULL DO UPDATE SET {update_metric_columns}
    RETURNING m.id
)
SELECT ARRAY(SELECT id FROM per_instance UNION ALL SELECT id FROM per_type)::text[]

-- name: get_agent_metrics
-- Rows of the last %(hours)s hours, newest first: of one instance (by its agent_id), or
-- every row (per-instance and per-type, agent_id NULL for the latter) when agent_id is NULL.
SELECT i.agent_id, m.*
FROM agent_metrics m
LEFT JOIN agent_instances i ON i.id = m.agent_instance_id
WHERE m.period_end > COALESCE(%(now)s::timestamptz, now()) - %(hours)s * interval '1 hour'
  AND (%(agent_id)s::text IS NULL OR i.agent_id = %(agent_id)s::text)
ORDER BY m.period_start DESC, m.agent_type, i.agent_id NULLS FIRST

-- name: get_instance
-- The instance that store_agent_metrics was given by its agent_id.
SELECT id, agent_type::text FROM agent_instances WHERE agent_id = %(agent_id)s

-- name: rows_by_id
-- Whole rows by id with their instance's agent_id, for the mirror (whose instance ids
-- are its own): persistence/mirror_effects.py.
SELECT i.agent_id, m.*
FROM agent_metrics m
LEFT JOIN agent_instances i ON i.id = m.agent_instance_id
WHERE m.id = ANY(%(ids)s::uuid[])
ORDER BY m.id
