-- Named queries of the read API (persistence/browse.py, served by workers/serve/api.py).
-- Each block starts with "-- name: <name>"; parameters are psycopg's %(name)s.

-- name: list_executions
-- One page of executions, newest first, by keyset on (created_at, task_id): the next page
-- starts strictly below the last row of this one, so rows inserted meanwhile above it never
-- shift the pages (no row twice, none skipped). A NULL filter means "any". One row more
-- than asked tells whether another page follows.
SELECT task_id, agent_type::text AS agent_type, task_type, status::text AS status,
       retry_count, worker, created_at, started_at, completed_at, execution_time_seconds,
       error_message, quality_score, user_id, session_id
FROM agent_executions
WHERE created_at IS NOT NULL
  AND (%(status)s::text IS NULL OR status = %(status)s::task_status)
  AND (%(agent_type)s::text IS NULL OR agent_type = %(agent_type)s::agent_type)
  AND (%(user_id)s::uuid IS NULL OR user_id = %(user_id)s::uuid)
  AND (%(before_at)s::timestamptz IS NULL
       OR (created_at, task_id) < (%(before_at)s::timestamptz, %(before_id)s::text))
ORDER BY created_at DESC, task_id DESC
LIMIT %(limit)s + 1

-- name: list_agents
-- Every agent instance with the age of its heartbeat (database clock), by type and worker.
SELECT id, agent_id, agent_type::text AS agent_type, worker, status::text AS status,
       current_task_id, last_heartbeat, last_activity,
       round(EXTRACT(EPOCH FROM (now() - last_heartbeat))::numeric, 3)::float
           AS heartbeat_age_seconds,
       (status <> 'offline'
        AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s)) AS online,
       total_tasks_completed, total_tasks_failed
FROM agent_instances
ORDER BY agent_type, worker NULLS LAST, agent_id
