-- Named queries of the realtime bridge (workers/realtime/listener.py). The triggers of
-- revision 0003 NOTIFY ids; these read the current rows by id, and the ids changed since
-- a time when the bridge catches up after a lost connection.

-- name: fetch_agent_executions
-- Everything a page shows of an execution; the (possibly large) input is never read,
-- the output only when the operator asked for it.
SELECT id, task_id, agent_type, task_type, status, priority, user_id, session_id,
       retry_count, max_retries, attempts, worker, agent_instance_id, parent_task_id,
       error_type, error_message, execution_time_seconds, quality_score,
       created_at, enqueued_at, started_at, completed_at, status_at, updated_at,
       CASE WHEN %(with_output)s THEN output_data END AS output_data
FROM agent_executions WHERE id = ANY(%(ids)s::uuid[])

-- name: fetch_agent_instances
SELECT id, agent_id, agent_type, status, current_task_id, worker, last_activity,
       last_heartbeat, total_tasks_completed, total_tasks_failed, total_execution_time,
       average_execution_time, created_at, updated_at
FROM agent_instances WHERE id = ANY(%(ids)s::uuid[])

-- name: fetch_agent_metrics
SELECT m.id, m.agent_instance_id, i.agent_id, m.agent_type, m.period_start, m.period_end,
       m.period_duration_minutes, m.tasks_completed, m.tasks_failed, m.tasks_cancelled,
       m.total_tasks, m.success_rate, m.error_rate, m.average_execution_time,
       m.median_execution_time, m.p95_execution_time, m.tasks_per_minute,
       m.average_quality_score, m.created_at
FROM agent_metrics m LEFT JOIN agent_instances i ON i.id = m.agent_instance_id
WHERE m.id = ANY(%(ids)s::uuid[])

-- name: fetch_system_health
-- What a status page shows of a health report (revision 0009 announces new rows); the
-- reasons are the report's, the details' components are left out (large).
SELECT id, "timestamp", status, overall_health_score, availability_percentage,
       critical_issues, warnings, details -> 'reasons' AS reasons, total_agents,
       active_agents, busy_agents, error_agents, queued_tasks, running_tasks, queue_length,
       system_error_rate, tasks_per_minute
FROM system_health WHERE id = ANY(%(ids)s::uuid[])

-- name: changed_agent_executions
-- The newest %(limit)s executions changed since %(since)s (idx_agent_executions_updated_at),
-- returned oldest first.
SELECT id FROM (
    SELECT id, updated_at FROM agent_executions WHERE updated_at >= %(since)s
    ORDER BY updated_at DESC, id DESC LIMIT %(limit)s
) AS c ORDER BY updated_at, id

-- name: changed_agent_instances
-- The integration design's trigger sets updated_at on every update (heartbeats too): a small table.
SELECT id FROM agent_instances WHERE updated_at >= %(since)s
ORDER BY updated_at, id LIMIT %(limit)s

-- name: changed_agent_metrics
-- Metrics rows are written once per closed period (reruns are identical): new rows only,
-- from periods of the last two days (idx_agent_metrics_period).
SELECT id FROM agent_metrics
WHERE period_start >= %(since)s - interval '2 days' AND created_at >= %(since)s
ORDER BY created_at, id LIMIT %(limit)s

-- name: changed_system_health
-- Beat stamps a row with the time of its report, just before inserting it.
SELECT id FROM system_health WHERE "timestamp" >= %(since)s
ORDER BY "timestamp", id LIMIT %(limit)s

-- name: db_now
SELECT now()

-- name: feed_installed
-- The triggers of revision 0003 exist (else the bridge would wait for nothing).
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'agentq_realtime_%%' AND NOT tgisinternal
