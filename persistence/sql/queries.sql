-- Named queries of the SQL store. Each block starts with "-- name: <name>".
-- Parameters are psycopg's %(name)s; arrays are passed whole and unnested, so a
-- batch of any size is one statement. Arrays go in binary (%(name)b): psycopg's text
-- array dumper quotes every element with a regex, which was 40 % of the recorder's CPU.

-- name: insert_events
-- Append transitions to the history; a replayed event (same id) is skipped.
INSERT INTO agent_execution_events (id, task_id, status, attempt, occurred_at, worker, detail)
SELECT * FROM unnest(
    %(id)b::uuid[], %(task_id)b::text[], %(status)b::task_status[], %(attempt)b::int[],
    %(occurred_at)b::timestamptz[], %(worker)b::text[], %(detail)b::jsonb[])
ON CONFLICT (id) DO NOTHING
RETURNING id

-- name: upsert_instance_counters
-- Create the instances that new transitions mention, and move their counters.
INSERT INTO agent_instances AS i (
    agent_id, agent_type, worker, status, last_activity, last_heartbeat,
    total_tasks_completed, total_tasks_failed, total_execution_time, average_execution_time)
SELECT u.agent_id, u.agent_type::agent_type, u.worker, 'idle', u.last_activity, now(),
       u.completed, u.failed, u.exec_time,
       COALESCE(u.exec_time / NULLIF(u.completed + u.failed, 0), 0)
FROM unnest(%(agent_id)b::text[], %(agent_type)b::text[], %(worker)b::text[],
            %(last_activity)b::timestamptz[], %(completed)b::int[], %(failed)b::int[],
            %(exec_time)b::float8[])
     AS u(agent_id, agent_type, worker, last_activity, completed, failed, exec_time)
ORDER BY u.agent_id
ON CONFLICT (agent_id) DO UPDATE SET
    last_activity = GREATEST(i.last_activity, EXCLUDED.last_activity),
    total_tasks_completed = COALESCE(i.total_tasks_completed, 0) + EXCLUDED.total_tasks_completed,
    total_tasks_failed = COALESCE(i.total_tasks_failed, 0) + EXCLUDED.total_tasks_failed,
    total_execution_time = COALESCE(i.total_execution_time, 0) + EXCLUDED.total_execution_time,
    average_execution_time = COALESCE(
        (COALESCE(i.total_execution_time, 0) + EXCLUDED.total_execution_time)
        / NULLIF(COALESCE(i.total_tasks_completed, 0) + COALESCE(i.total_tasks_failed, 0)
                 + EXCLUDED.total_tasks_completed + EXCLUDED.total_tasks_failed, 0), 0)

-- name: insert_executions
-- New executions, fully formed from their first patch; existing ones are skipped
-- here and merged by update_executions.
INSERT INTO agent_executions AS ae (
    task_id, agent_type, task_type, status, retry_count, status_at, created_at, worker,
    completed_at, output_data, quality_score, execution_time_seconds, started_at,
    error_message, error_type, error_details, enqueued_at, input_data, user_id, session_id,
    priority, max_retries, attempts, agent_instance_id)
SELECT u.task_id, u.agent_type::agent_type, u.task_type, u.status::task_status, u.retry_count,
       u.status_at, u.created_at, u.worker, u.completed_at, u.output_data::jsonb,
       u.quality_score, u.execution_time_seconds, u.started_at, u.error_message, u.error_type,
       u.error_details::jsonb, u.enqueued_at, COALESCE(u.input_data::jsonb, '{}'::jsonb),
       u.user_id::uuid, u.session_id, COALESCE(u.priority, 'normal')::task_priority,
       COALESCE(u.max_retries, 3), u.attempts,
       (SELECT i.id FROM agent_instances i WHERE i.agent_id = u.agent_type || '@' || u.worker)
FROM unnest(
    %(task_id)b::text[], %(agent_type)b::text[], %(task_type)b::text[], %(status)b::text[],
    %(retry_count)b::int[], %(status_at)b::timestamptz[], %(created_at)b::timestamptz[],
    %(worker)b::text[], %(completed_at)b::timestamptz[], %(output_data)b::text[],
    %(quality_score)b::float8[], %(execution_time_seconds)b::float8[],
    %(started_at)b::timestamptz[], %(error_message)b::text[], %(error_type)b::text[],
    %(error_details)b::text[], %(enqueued_at)b::timestamptz[], %(input_data)b::text[],
    %(user_id)b::text[], %(session_id)b::text[], %(priority)b::text[], %(max_retries)b::int[],
    %(attempts)b::int[])
    AS u(task_id, agent_type, task_type, status, retry_count, status_at, created_at, worker,
         completed_at, output_data, quality_score, execution_time_seconds, started_at,
         error_message, error_type, error_details, enqueued_at, input_data, user_id,
         session_id, priority, max_retries, attempts)
ORDER BY u.task_id
ON CONFLICT (task_id) DO NOTHING
RETURNING task_id

-- name: update_executions
-- Merge patches into existing rows: the lifecycle rule of persistence/lifecycle.py
-- (merge), column group by column group. "win" is
-- (attempt, rank, time) of the patch's state > the stored one.
UPDATE agent_executions AS ae SET
    created_at = LEAST(ae.created_at, u.created_at),
    status = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_status::task_status ELSE ae.status END,
    retry_count = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_attempt ELSE ae.retry_count END,
    status_at = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_at ELSE ae.status_at END,
    worker = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_worker ELSE ae.worker END,
    agent_instance_id = CASE WHEN u.s_worker IS NOT NULL
                  AND (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN COALESCE((SELECT i.id FROM agent_instances i
                                 WHERE i.agent_id = ae.agent_type::text || '@' || u.s_worker),
                                ae.agent_instance_id)
                  ELSE ae.agent_instance_id END,
    completed_at = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_completed_at ELSE ae.completed_at END,
    output_data = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_output::jsonb ELSE ae.output_data END,
    quality_score = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_quality ELSE ae.quality_score END,
    execution_time_seconds = CASE WHEN (u.s_attempt, agentq_status_rank(u.s_status::task_status), u.s_at)
                     > (ae.retry_count, agentq_status_rank(ae.status), COALESCE(ae.status_at, '-infinity'))
                  THEN u.s_exec_time ELSE ae.execution_time_seconds END,
    started_at = LEAST(ae.started_at, u.st_at),
    error_message = CASE WHEN u.e_attempt IS NOT NULL AND (u.e_attempt, u.e_rank)
                     > (COALESCE((ae.error_details->>'attempt')::int, -1),
                        COALESCE((ae.error_details->>'rank')::int, -1))
                  THEN u.e_message ELSE ae.error_message END,
    error_type = CASE WHEN u.e_attempt IS NOT NULL AND (u.e_attempt, u.e_rank)
                     > (COALESCE((ae.error_details->>'attempt')::int, -1),
                        COALESCE((ae.error_details->>'rank')::int, -1))
                  THEN u.e_type ELSE ae.error_type END,
    error_details = CASE WHEN u.e_attempt IS NOT NULL AND (u.e_attempt, u.e_rank)
                     > (COALESCE((ae.error_details->>'attempt')::int, -1),
                        COALESCE((ae.error_details->>'rank')::int, -1))
                  THEN u.e_details::jsonb ELSE ae.error_details END,
    enqueued_at = COALESCE(ae.enqueued_at, u.r_at),
    input_data = CASE WHEN ae.enqueued_at IS NULL AND u.r_at IS NOT NULL
                  THEN COALESCE(u.r_input::jsonb, '{}'::jsonb) ELSE ae.input_data END,
    user_id = CASE WHEN ae.enqueued_at IS NULL AND u.r_at IS NOT NULL
                  THEN u.r_user::uuid ELSE ae.user_id END,
    session_id = CASE WHEN ae.enqueued_at IS NULL AND u.r_at IS NOT NULL
                  THEN u.r_session ELSE ae.session_id END,
    priority = CASE WHEN ae.enqueued_at IS NULL AND u.r_at IS NOT NULL
                  THEN COALESCE(u.r_priority, 'normal')::task_priority ELSE ae.priority END,
    max_retries = CASE WHEN ae.enqueued_at IS NULL AND u.r_at IS NOT NULL
                  THEN COALESCE(u.r_max_retries, ae.max_retries) ELSE ae.max_retries END,
    attempts = ae.attempts + u.new_runs,
    updated_at = now()
FROM unnest(
    %(task_id)b::text[], %(created_at)b::timestamptz[], %(s_status)b::text[],
    %(s_attempt)b::int[], %(s_at)b::timestamptz[], %(s_worker)b::text[],
    %(s_completed_at)b::timestamptz[], %(s_output)b::text[], %(s_quality)b::float8[],
    %(s_exec_time)b::float8[], %(st_at)b::timestamptz[],
    %(e_attempt)b::int[], %(e_rank)b::int[], %(e_message)b::text[], %(e_type)b::text[],
    %(e_details)b::text[], %(r_at)b::timestamptz[], %(r_input)b::text[], %(r_user)b::text[],
    %(r_session)b::text[], %(r_priority)b::text[], %(r_max_retries)b::int[],
    %(new_runs)b::int[])
    AS u(task_id, created_at, s_status, s_attempt, s_at, s_worker, s_completed_at, s_output,
         s_quality, s_exec_time, st_at, e_attempt, e_rank, e_message, e_type,
         e_details, r_at, r_input, r_user, r_session, r_priority, r_max_retries, new_runs)
WHERE ae.task_id = u.task_id

-- name: refresh_instance_status
-- busy while the instance's worker runs an execution of its type, idle otherwise;
-- offline and maintenance are left to the worker's own lifecycle and the reaper.
UPDATE agent_instances AS i SET
    status = CASE WHEN r.task_id IS NULL THEN 'idle' ELSE 'busy' END::agent_status,
    current_task_id = r.task_id
FROM (
    SELECT a.agent_id,
           (SELECT e.task_id FROM agent_executions e
             WHERE e.status = 'running' AND e.worker = a.worker AND e.agent_type = a.agent_type
             ORDER BY e.started_at DESC NULLS LAST LIMIT 1) AS task_id
    FROM agent_instances a WHERE a.agent_id = ANY(%(agent_id)b::text[])
) AS r
WHERE i.agent_id = r.agent_id
  AND i.status NOT IN ('offline', 'maintenance')
  AND (i.status::text, i.current_task_id) IS DISTINCT FROM
      (CASE WHEN r.task_id IS NULL THEN 'idle' ELSE 'busy' END, r.task_id)

-- name: set_instances_status
-- A worker's own lifecycle (initializing, idle, offline) for the agent types it serves.
INSERT INTO agent_instances AS i (agent_id, agent_type, worker, status, last_activity,
                                  last_heartbeat, configuration, current_task_id)
SELECT u.agent_id, u.agent_type::agent_type, %(worker)s, %(status)s::agent_status,
       %(at)s, %(at)s, %(configuration)s::jsonb, NULL
FROM unnest(%(agent_id)b::text[], %(agent_type)b::text[]) AS u(agent_id, agent_type)
ORDER BY u.agent_id
ON CONFLICT (agent_id) DO UPDATE SET
    status = EXCLUDED.status,
    worker = EXCLUDED.worker,
    last_activity = GREATEST(i.last_activity, EXCLUDED.last_activity),
    last_heartbeat = GREATEST(i.last_heartbeat, EXCLUDED.last_heartbeat),
    configuration = EXCLUDED.configuration,
    current_task_id = NULL

-- name: heartbeat
-- A live worker's heartbeat; it also brings back an instance the reaper marked offline.
UPDATE agent_instances SET
    last_heartbeat = now(),
    status = CASE WHEN status = 'offline' THEN 'idle'::agent_status ELSE status END
WHERE worker = %(worker)s AND agent_id = ANY(%(agent_id)b::text[])

-- name: get_execution
SELECT * FROM agent_executions WHERE task_id = %(task_id)s

-- name: get_history
SELECT status, attempt, occurred_at, worker, detail
FROM agent_execution_events WHERE task_id = %(task_id)s
ORDER BY occurred_at, agentq_status_rank(status), id
