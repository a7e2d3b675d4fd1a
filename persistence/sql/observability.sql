-- Named queries of `agentq serve` (persistence/observability.py): what /metrics and
-- /api/v1/health/supabase read at request time. Each block starts with "-- name: <name>".

-- name: execution_counts
-- Executions in the table by current status and agent type (every row: retention
-- keeps the table bounded).
SELECT status::text AS status, agent_type::text AS agent_type, count(*)::bigint AS n
FROM agent_executions
GROUP BY status, agent_type

-- name: rls_enabled
-- Per table: Row Level Security is on (false for a missing table).
SELECT t.name, COALESCE(c.relrowsecurity, false) AS enabled
FROM unnest(%(tables)s::text[]) AS t(name)
LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)

-- name: task_counts
-- The fleet's counters and histogram buckets (revision 0010), the shards summed: a few
-- hundred rows whatever the history's size.
SELECT agent_type::text AS agent_type, metric, label, sum(n)::bigint AS n, sum(total) AS total
FROM agentq_task_counts
GROUP BY agent_type, metric, label

-- name: online_instances
-- (worker, agent type) of every online agent instance (health's rule: not offline, a
-- heartbeat within stale_s): which workers are up and which agent queues they consume.
SELECT worker, agent_type::text AS agent_type
FROM agent_instances
WHERE status <> 'offline' AND worker IS NOT NULL
  AND last_heartbeat >= now() - make_interval(secs => %(stale_s)s)
