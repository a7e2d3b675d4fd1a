-- Named queries of the reconciler (workers/reconcile/record_view.py): what the record
-- says is still open. Each block starts with "-- name: <name>"; parameters are psycopg's
-- %(name)s.

-- name: db_now
SELECT extract(epoch FROM now())::float8

-- name: open_executions
-- One page of the executions not yet final, keyset-paged by task_id (the unique index):
-- no OFFSET, so every page costs the same however deep the pass is.
SELECT task_id, agent_type::text AS agent_type, task_type, status::text AS status,
       COALESCE(retry_count, 0) AS retry_count,
       extract(epoch FROM COALESCE(status_at, created_at))::float8 AS status_at,
       worker
FROM agent_executions
WHERE status IN ('pending', 'queued', 'retrying', 'running')
  AND task_id > %(after)s
ORDER BY task_id
LIMIT %(page)s

-- name: existing_task_ids
-- Which of these task ids have a row (any status).
SELECT task_id FROM agent_executions WHERE task_id = ANY(%(ids)s::text[])

-- name: executions_state
-- The current status and status time of these executions (a second look before acting).
SELECT task_id, status::text AS status, COALESCE(retry_count, 0) AS retry_count,
       extract(epoch FROM COALESCE(status_at, created_at))::float8 AS status_at
FROM agent_executions
WHERE task_id = ANY(%(ids)s::text[])

-- name: execution_requests
-- What a lost task is published again from: its recorded request.
SELECT task_id, agent_type::text AS agent_type, task_type, status::text AS status,
       COALESCE(retry_count, 0) AS retry_count, input_data, user_id::text AS user_id,
       session_id, priority::text AS priority
FROM agent_executions
WHERE task_id = ANY(%(ids)s::text[])

-- name: online_workers
-- Workers with an instance online: not offline, heartbeat within stale_s.
SELECT DISTINCT worker
FROM agent_instances
WHERE status <> 'offline' AND worker IS NOT NULL
  AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s)
