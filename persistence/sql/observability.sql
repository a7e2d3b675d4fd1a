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
