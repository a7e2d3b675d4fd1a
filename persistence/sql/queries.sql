-- Named queries of the SQL store. Each block starts with "-- name: <name>".
-- Parameters are psycopg's %(name)s; arrays go in binary (%(name)b): psycopg's text
-- array dumper quotes every element with a regex. Recording itself is one function,
-- agentq_record_batch_within() (current/functions.sql).

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
