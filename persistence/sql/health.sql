-- Named queries of system health, the stale-agent reaper and retention
-- (persistence/health.py). Each block starts with "-- name: <name>"; parameters are
-- psycopg's %(name)s.

-- name: ping
SELECT 1

-- name: tables_accessible
-- Per table: it exists and the current role may read it.
SELECT t.name,
       COALESCE(to_regclass(t.name) IS NOT NULL
                AND has_table_privilege(to_regclass(t.name), 'SELECT'), false) AS ok
FROM unnest(%(tables)s::text[]) AS t(name)

-- name: realtime_tables
-- Tables whose committed changes are published (a user trigger calling pg_notify):
-- the self-hosted equivalent of Supabase Realtime's change feed.
SELECT DISTINCT c.relname::text AS name
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal
  AND c.relname = ANY(%(tables)s::text[])
  AND p.prosrc ILIKE '%%pg_notify%%'

-- name: executions_by_status
-- Executions whose status last changed in the window, by status. The created_at bound
-- (window + lookback) lets the (status, created_at) index serve the scan; an execution
-- created longer ago than that and finishing now is not counted.
SELECT status::text AS status, count(*)::int AS n
FROM agent_executions
WHERE created_at >= %(since)s - make_interval(secs => %(lookback_s)s)
  AND status_at >= %(since)s
GROUP BY status

-- name: execution_times
-- Error rate and execution time percentiles of the executions that ended in the window
-- (completed or failed; cancelled ones never ran to an outcome).
SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       avg(execution_time_seconds) AS avg_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY execution_time_seconds) AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_seconds) AS p95_s,
       avg(EXTRACT(EPOCH FROM (started_at - enqueued_at)))
           FILTER (WHERE started_at IS NOT NULL AND enqueued_at IS NOT NULL) AS avg_wait_s
FROM agent_executions
WHERE status IN ('completed', 'failed')
  AND created_at >= %(since)s - make_interval(secs => %(lookback_s)s)
  AND completed_at >= %(since)s

-- name: open_executions
-- Executions not finished yet (any age), by status.
SELECT status::text AS status, count(*)::int AS n
FROM agent_executions
WHERE status IN ('pending', 'queued', 'running', 'retrying')
GROUP BY status

-- name: instances_summary
-- Agent instances by status; "online" = not offline and a heartbeat within stale_s; the
-- workers and the agent types (hence queues) that have an online instance.
SELECT count(*)::int AS total,
       count(*) FILTER (WHERE status = 'idle')::int AS idle,
       count(*) FILTER (WHERE status IN ('busy', 'processing'))::int AS busy,
       count(*) FILTER (WHERE status = 'error')::int AS error,
       count(*) FILTER (WHERE status = 'offline')::int AS offline,
       count(*) FILTER (WHERE status <> 'offline'
                          AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s))::int
           AS online,
       COALESCE(array_agg(DISTINCT worker) FILTER (
           WHERE status <> 'offline' AND worker IS NOT NULL
             AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s)), '{}')
           AS online_workers,
       COALESCE(array_agg(DISTINCT agent_type::text) FILTER (
           WHERE status <> 'offline'
             AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s)), '{}')
           AS online_agent_types
FROM agent_instances

-- name: insert_system_health
INSERT INTO system_health (
    "timestamp", period_minutes, total_agents, active_agents, idle_agents, busy_agents,
    error_agents, total_tasks, completed_tasks, failed_tasks, queued_tasks, running_tasks,
    system_success_rate, system_error_rate, average_response_time, p95_response_time,
    tasks_per_minute, tasks_per_hour, queue_length, average_queue_wait_time,
    overall_health_score, critical_issues, warnings, custom_metrics, status, details)
VALUES (
    COALESCE(%(timestamp)s::timestamptz, now()), %(period_minutes)s, %(total_agents)s, %(active_agents)s,
    %(idle_agents)s, %(busy_agents)s, %(error_agents)s, %(total_tasks)s, %(completed_tasks)s,
    %(failed_tasks)s, %(queued_tasks)s, %(running_tasks)s, %(system_success_rate)s,
    %(system_error_rate)s, %(average_response_time)s, %(p95_response_time)s,
    %(tasks_per_minute)s, %(tasks_per_hour)s, %(queue_length)s, %(average_queue_wait_time)s,
    %(overall_health_score)s, %(critical_issues)s, %(warnings)s, %(custom_metrics)s::jsonb,
    %(status)s, %(details)s::jsonb)
RETURNING id

-- name: mark_stale_instances
-- Instances whose heartbeat stopped longer than stale_s ago become offline (maintenance
-- is an operator's choice and is left alone). A live worker's next heartbeat brings
-- its instances back (queries.sql, heartbeat).
UPDATE agent_instances SET status = 'offline', current_task_id = NULL
WHERE status NOT IN ('offline', 'maintenance')
  AND COALESCE(last_heartbeat, last_activity, created_at)
      < now() - make_interval(secs => %(stale_s)s)
RETURNING agent_id

-- name: lost_executions
-- Executions left running on a worker that is gone: none of its instances is online
-- (not offline, heartbeat within stale_s), and the current attempt went running longer
-- than the broker's visibility timeout ago, so a redelivery would already have moved
-- the row (a redelivered run is a newer "running" of the same attempt).
SELECT e.task_id, e.agent_type::text AS agent_type, e.task_type, e.retry_count, e.worker
FROM agent_executions e
WHERE e.status = 'running'
  AND COALESCE(e.status_at, e.started_at, e.created_at)
      < now() - make_interval(secs => %(visibility_s)s)
  AND NOT EXISTS (
      SELECT 1 FROM agent_instances i
      WHERE i.worker = e.worker
        AND i.status <> 'offline'
        AND i.last_heartbeat >= now() - make_interval(secs => %(stale_s)s))
ORDER BY e.status_at
LIMIT %(limit)s

-- name: settle_lost_workers
-- Recording a "failed" on a lost worker moves its instance's counters, and creates the
-- instance (as idle, heartbeat now) when it no longer exists: such a new instance of a
-- lost worker is offline. A worker that really is alive gets it back on its heartbeat.
UPDATE agent_instances SET status = 'offline', current_task_id = NULL
WHERE agent_id = ANY(%(agent_ids)s::text[])
  AND status NOT IN ('offline', 'maintenance')
  AND created_at >= %(since)s
RETURNING agent_id

-- name: db_now
SELECT now()

-- name: purge_executions
-- One bounded batch of terminal executions that ended before the cutoff; their history
-- goes with them (ON DELETE CASCADE). created_at < cutoff is implied by the end time
-- and lets the (status, created_at) index find them. SKIP LOCKED: never wait for a row
-- the recorder is writing.
DELETE FROM agent_executions
WHERE id IN (
    SELECT id FROM agent_executions
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND created_at < %(cutoff)s
      AND COALESCE(completed_at, status_at, created_at) < %(cutoff)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED)
RETURNING task_id

-- name: purge_metrics
DELETE FROM agent_metrics
WHERE id IN (
    SELECT id FROM agent_metrics
    WHERE period_start < %(cutoff)s AND period_end < %(cutoff)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED)
RETURNING id::text

-- name: purge_system_health
DELETE FROM system_health
WHERE id IN (
    SELECT id FROM system_health
    WHERE "timestamp" < %(cutoff)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED)
RETURNING id::text

-- name: system_health_rows
-- Whole rows by id, for the mirror (persistence/mirror_effects.py).
SELECT * FROM system_health WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id
