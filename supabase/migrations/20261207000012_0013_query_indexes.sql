-- agentq: generated from Alembic revision 0013_query_indexes (0013_query_indexes.py).
-- Do not edit: regenerate with `agentq migrate --supabase-dir supabase/migrations`.
-- indexes for the page's reads: executions by (created_at, task_id), metrics by period_end

-- Running upgrade 0011_trace_id -> 0013_query_indexes

-- 0013: indexes for the page's and the API's reads at a year of data
-- (bench/bench_queries.py measures every query; docs/benchmarks.md has the numbers).
--
-- The page's default view is the newest executions by (created_at DESC, task_id DESC)
-- (browse.sql list_executions): without an index on exactly that key it is a scan and a
-- sort of the whole table. created_at is written when the row is made and only ever moves
-- earlier, so the index costs one entry per execution's version (bench/README.md: the
-- drain measured with and without it).
CREATE INDEX IF NOT EXISTS idx_agent_executions_created_task
    ON agent_executions (created_at, task_id);

-- Metrics of the last hours (metrics.sql get_agent_metrics) are chosen by period_end.
CREATE INDEX IF NOT EXISTS idx_agent_metrics_period_end
    ON agent_metrics (period_end);

UPDATE alembic_version SET version_num='0013_query_indexes' WHERE alembic_version.version_num = '0011_trace_id';
